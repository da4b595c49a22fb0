# helper functions
LOG=/var/log/job.log
if [ -f "$LOG" ]; then
  echo "rotating"
fi
