"""The sans-IO HTTP filter chain: plugin order, pause/resume, buffering, local replies, failStrategy."""
