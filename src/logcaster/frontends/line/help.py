"""``HELP``: the line port's own description of its commands and parameters."""

HELP_TEXT = """\
LogCaster Query Interface
Commands (one per connection; replies end when the server closes):
  STATS                       counters: Total, Dropped, Current, Clients. Example: STATS
  INFO                        every counter (also STATS verbose): persistence, truncation, queues. Example: INFO
  COUNT                       lines held in memory. Example: COUNT
  QUERY [param=value ...]     matching lines, oldest first, '[time] line'. Example: QUERY keywords=error limit=20
  QUERY keyword=<text>        original form: rest of line is one literal, raw lines. Example: QUERY keyword=disk full
  TAIL [n]                    the newest n lines (default 10), oldest first. Example: TAIL 50
  FOLLOW [param=value ...]    stream new matching lines until you disconnect; a follower too slow to read is told '... N lines skipped'. Example: FOLLOW level=ERROR
  HELP                        this text. Example: HELP
Parameters (combine with AND; quote values with spaces: keywords="disk full",timeout):
  keywords=a,b,c              case-sensitive substrings (alias keyword=). Example: keywords=timeout,db
  operator=AND|OR             how keywords combine (default AND). Example: keywords=error,fatal operator=OR
  regex=PATTERN               RE2 regex, linear time; (?i) for case-insensitive. Example: regex=user_id=[0-9]+
  time_from=T / time_to=T     inclusive receive-time bounds: Unix seconds, ISO 8601 or -15m/-2h/-1d. Example: time_from=-15m
  level=L1[,L2]               level token: ERROR, [error], level=error, "level":"error". Example: level=ERROR,WARN
  limit=N                     only the newest N matches. Example: limit=100
  order=asc|desc              oldest first (default) or newest first. Example: order=desc
  scope=ring|all              memory only (default) or also the log files written with -P. Example: scope=all keywords=panic
Replies: 'FOUND: <n> matches' then one line per match; errors are one 'ERROR: ...' line.
"""
