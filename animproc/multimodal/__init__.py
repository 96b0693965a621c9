"""Joins pictures and voices: who speaks on screen (active speakers), which voice is which character, and how
sound lines up with the picture (beats, onsets, audio-video offset)."""
