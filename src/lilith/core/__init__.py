"""The pure core: framing, codec, session state and decisions. No IO, no threads, no clocks inside."""
