"""``HELP``: the line port's own description of its commands and parameters."""

HELP_TEXT = """\
LogCaster Query Interface
Commands (one per connection; replies end when the server closes):
  STATS                       counters: Total, Dropped, Current, Clients. Example: STATS
  INFO                        every counter (also STATS verbose): persistence, truncation, queues. Example: INFO
  COUNT                       lines held in memory. Example: COUNT
  QUERY [param=value ...]     matching lines, oldest first, '[time] line'. Example: QUERY keywords=error limit=20
  QUERY keyword=<text>        original form: the whole rest of the line is one literal (spaces, =, quotes and all), raw lines. Example: QUERY keyword=payment failed order=123
  TAIL [n]                    the newest n lines (default 10), oldest first. Example: TAIL 50
  FOLLOW [param=value ...]    stream new matching lines until you disconnect; a follower too slow to read is told '... N lines skipped' once it catches up. Example: FOLLOW level=ERROR
  HITS step=N(s|m|h|d) [by=level|host|app|facility|field.NAME] [param=value ...]  matches per time bucket (UTC, oldest first, empty buckets too): 'HITS: <buckets>' then '<start> <count>[ LEVEL=<n> ...]'. Example: HITS step=5m by=level time_from=-1h (also: HITS step=1h by=host app=sshd)
  TOP level|host|app|facility|field.NAME [limit=N] [param=value ...]  most frequent values of a field among the matches (default 10; NONE: no value): 'TOP: <n>' then '<value> <count>'. Example: TOP level keywords=db (also: TOP host level=ERROR, TOP field.user limit=5)
  HELP                        this text. Example: HELP
Parameters (filters combine with AND; the same for QUERY, FOLLOW, HITS and TOP):
  keywords=a,b,c              case-sensitive substrings, a comma list. Example: keywords=timeout,db
  keyword=<text>              one literal: the whole rest of the line, so it comes last. Example: limit=5 keyword=disk full
  operator=AND|OR             how keywords combine (default AND). Example: keywords=error,fatal operator=OR
  regex=PATTERN               RE2 regex, linear time; (?i) for case-insensitive. Example: regex=user_id=[0-9]+
  time_from=T / time_to=T     inclusive receive-time bounds: Unix seconds, ISO 8601 or -15m/-2h/-1d. Example: time_from=-15m
  level=L1[,L2]               level token: ERROR, [error], level=error, "level":"error" (or "log.level", "severity", "PRIORITY": in a JSON object it decides over other tokens); a JSON numeric "level": 0-7 a syslog severity (GELF), 10-69 pino's (30 INFO, 50 ERROR). Example: level=ERROR,WARN
  host=NAME                   the line's host: syslog HOSTNAME, JSON/GELF "host" (or "host.name", flat or nested, "hostname", "HOST"), logfmt host=; a trailing * for a prefix. Example: host=web1
  app=NAME                    the line's application: syslog APP-NAME or TAG (app[pid]:), JSON "app" (or "service.name", "PROGRAM", ...), logfmt app=; * for a prefix. Example: app=sshd
  facility=F                  the syslog facility of the <PRI>: a name (kern, user, auth, daemon, local0 ... local7) or a number 0-23. Example: facility=auth
  field.NAME=VALUE            any field, exact (a trailing * for a prefix, field.NAME=* for present): JSON keys (nested by dots), logfmt keys, syslog header and SD params. Example: field.user=alice
  limit=N                     only the newest N matches (TOP: N values). Example: limit=100
  order=asc|desc              oldest first (default) or newest first. Example: order=desc
  scope=ring|all              memory only (default) or also the log files written with -P. Example: scope=all keywords=panic
  scope=cluster               every node's lines in the shared store (--store); QUERY, HITS, TOP only: FOLLOW is node-local. Example: scope=cluster host=web1
Quoting: a value that starts with " runs to the closing " (spaces and commas kept; \\" is a quote, \\\\ a backslash);
  in keywords= and level= lists each item may be quoted: keywords="disk full",timeout. A value that does not start
  with " ends at the next space and keeps its quotes as written: regex=^\\{"level":"error"
Replies: 'FOUND: <n> matches' then one line per match; errors are one 'ERROR: ...' line.
"""
