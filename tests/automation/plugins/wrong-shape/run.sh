#!/bin/sh
# prints valid JSON of the wrong shape
cat > /dev/null
echo "{\"ok\": true, \"items\": 3}"
