#!/bin/sh
# prints more than the answer bound, forever
cat > /dev/null
yes "[1,2,3,4,5,6,7,8,9,10]"
