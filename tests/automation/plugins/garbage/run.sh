#!/bin/sh
# prints something that is not JSON
cat > /dev/null
echo "this is not { json"
