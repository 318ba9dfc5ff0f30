"""``prac.track.ForgettingTracker``: the tracker lives in ``prac.select.track``; this name stays for users."""

from prac.select.track import ForgettingTracker

__all__ = ["ForgettingTracker"]
