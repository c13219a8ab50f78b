"""Replay of a recorded video or a past session: `view` (the `ReplayView` tab), `playback` (the timeline
and the frame-exact video decoder), `widgets` (frame view, session dialog), `annotations` (a video's
annotations, kept by its hash) and `analysis` (a video's per-frame results, computed in the background and
cached)."""
