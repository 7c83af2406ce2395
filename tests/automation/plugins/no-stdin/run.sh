#!/bin/sh
# answers without reading its input
echo "{\"ok\": true, \"effects\": [], \"reason\": \"ignored the request\"}"
