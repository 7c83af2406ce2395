#!/bin/sh
# never answers: sleeps in a child process that holds stdout open. Writes its pid (its process
# group's id) to $WARDEN_HANG_PID_FILE when set, so the test can check the group was killed.
cat > /dev/null
if [ -n "$WARDEN_HANG_PID_FILE" ]; then echo $$ > "$WARDEN_HANG_PID_FILE"; fi
sleep 30
echo "{}"
