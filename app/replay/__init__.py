"""Replay of a recorded video or a past session: `view` (the `ReplayView` tab), `playback` (the timeline
and the frame-exact video decoder), `widgets` (frame view, session dialog) and `annotations` (a video's
annotations, kept by its hash). The background analysis of videos is app.replay_analysis."""
