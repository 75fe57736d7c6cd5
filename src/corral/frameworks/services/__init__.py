"""The services framework: long-running apps the Marathon way (``corral services``)."""
