import torch

from prac.select.track import ForgettingTracker


def feed(tracker, rows, indices=None):
    for r in rows:
        idx = torch.arange(len(r)) if indices is None else indices
        tracker.update(idx, torch.tensor(r))


def test_forgetting_counts_on_hand_made_sequences():
    # sample 0: 1 0 1 0 0 1 -> two forgetting events; sample 1: never right;
    # sample 2: 0 1 1 1 1 1 -> learned late, never forgotten; sample 3: 1 1 1 1 1 0 -> one event
    seq = [[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 1, 0]]
    t = ForgettingTracker(4)
    for epoch, row in enumerate(seq):
        t.start_epoch(epoch)
        t.update(torch.arange(4), torch.tensor(row, dtype=torch.bool))
    assert t.forgetting_events.tolist() == [2, 0, 0, 1]
    assert t.never_learned.tolist() == [False, True, False, False]
    assert t.first_learned.tolist() == [0, -1, 1, 0]
    assert t.presentations.tolist() == [6, 6, 6, 6]


def test_first_presentation_wrong_is_not_a_forgetting_event():
    t = ForgettingTracker(2)
    feed(t, [[False, False], [False, True]])
    assert t.forgetting_events.tolist() == [0, 0]
    assert t.never_learned.tolist() == [True, False]


def test_updates_touch_only_the_batch_samples():
    t = ForgettingTracker(5)
    t.update(torch.tensor([4, 1]), torch.tensor([True, False]))
    t.update(torch.tensor([4]), torch.tensor([False]))
    assert t.presentations.tolist() == [0, 1, 0, 0, 2]
    assert t.forgetting_events.tolist() == [0, 0, 0, 0, 1]


def test_state_dict_round_trip_resumes_exactly():
    seq = [[True, False, True], [False, True, True], [True, True, False]]
    a = ForgettingTracker(3)
    feed(a, seq[:2])
    b = ForgettingTracker(3)
    b.load_state_dict(a.state_dict())
    feed(a, seq[2:])
    feed(b, seq[2:])
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_memory_is_linear_in_samples_and_constant_in_epochs():
    t = ForgettingTracker(1000)
    before = t.nbytes()
    for _ in range(20):
        t.update(torch.arange(1000), torch.rand(1000) > 0.5)
    assert t.nbytes() == before
    assert ForgettingTracker(2000).nbytes() == 2 * before


def test_regression_rule_learned_and_forgotten_on_hand_made_squared_errors():
    """Regression: correct = learned = squared error (mean over outputs) below the threshold;
    the tracker then counts learned -> not learned as a forgetting event."""
    from prac.train.task import correctness

    threshold = 0.01
    # per epoch, each sample's squared error averaged over its 2 outputs
    errors = [[0.001, 0.5, 0.020, 0.008],
              [0.050, 0.5, 0.009, 0.008],
              [0.002, 0.5, 0.000, 0.008],
              [0.020, 0.5, 0.005, 0.008],
              [0.010, 0.5, 0.001, 0.008],   # exactly at the threshold is not below it: not learned
              [0.005, 0.5, 0.004, 0.015]]
    y = torch.zeros(4, 2)
    t = ForgettingTracker(4)
    for epoch, row in enumerate(errors):
        e = torch.tensor(row)
        out = torch.stack([e.sqrt(), e.sqrt()], 1)      # both outputs err by sqrt(e): mean e
        out[3] = torch.tensor([0.0, (2 * row[3]) ** 0.5])  # sample 3: one output carries it all
        t.start_epoch(epoch)
        t.update(torch.arange(4), correctness(out, y, threshold))
    # sample 0: 1 0 1 0 0 1 -> two events; 1: never learned; 2: 0 1 1 1 1 1; 3: 1 1 1 1 1 0 -> one
    assert t.forgetting_events.tolist() == [2, 0, 0, 1]
    assert t.never_learned.tolist() == [False, True, False, False]
    assert t.first_learned.tolist() == [0, -1, 1, 0]
