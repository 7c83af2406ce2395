#!/bin/sh
# exits with status 3 and a message
cat > /dev/null
echo "the thing is broken" >&2
exit 3
