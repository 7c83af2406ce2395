#!/bin/sh
# aborts
cat > /dev/null
echo "about to crash" >&2
kill -s ABRT $$
