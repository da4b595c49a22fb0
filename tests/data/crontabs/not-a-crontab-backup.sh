#!/bin/sh
# nightly backup, run from cron
set -e
BACKUP_DIR=/var/backups
tar czf "$BACKUP_DIR/home-$(date +%F).tar.gz" /home
