#!/bin/sh
# Writes the greeting the final image prints.
echo "$1 from a kiln multi-stage build ($(uname -m))"
