"""Snow Radar readers and writers, one module per real layout, and the dispatcher that picks one (`dispatch`)."""
