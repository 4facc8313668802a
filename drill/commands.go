package drill

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The commands file holds one command a line, as a join shell writes it:
//
//	SECONDS.MICROS <TAB> WHO <TAB> HOST <TAB> COMMAND
//
// with the wall time the command started (bash's $EPOCHREALTIME) and the
// command line as typed, newlines turned into spaces. WHO and HOST are
// checked names without tabs.

// parseCommand reads one line of the commands file.
func parseCommand(line string) (when time.Time, who, host, cmd string, err error) {
	parts := strings.SplitN(line, "\t", 4)
	if len(parts) != 4 {
		return time.Time{}, "", "", "", fmt.Errorf("malformed command line %q", line)
	}
	secs, err := strconv.ParseFloat(strings.Replace(parts[0], ",", ".", 1), 64)
	if err != nil {
		return time.Time{}, "", "", "", fmt.Errorf("malformed time in command line %q", line)
	}
	when = time.Unix(0, int64(secs*1e9))
	return when, parts[1], parts[2], parts[3], nil
}

// AppendCommand records a command run by who in host at a time, as a join
// shell does; verify's reference response records its steps with it.
func AppendCommand(dir string, at time.Time, who, host, cmd string) error {
	cmd = strings.ReplaceAll(cmd, "\n", " ")
	line := fmt.Sprintf("%d.%06d\t%s\t%s\t%s\n", at.Unix(), at.Nanosecond()/1000, who, host, cmd)
	return appendLine(filepath.Join(dir, CommandsFile), []byte(line))
}

// JoinRC is the bash rc file of a join shell: it records every command
// line the participant runs (when it started, who, where, what) in the
// drill's commands file, from a PROMPT_COMMAND and a DEBUG trap that
// notes when the command started, and once more on exit. The rc file's
// own lines are not in the history (an interactive bash turns history on
// after reading it), so only what the participant typed is recorded.
func JoinRC(dir, lab, who, host string) string {
	file := filepath.Join(dir, CommandsFile)
	return fmt.Sprintf(`[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -f ~/.bashrc ] && . ~/.bashrc
HISTCONTROL=
HISTIGNORE=
HISTFILE=
__nd_file=%q
__nd_who=%q
__nd_host=%q
__nd_last=
__nd_t=
__nd_now() { if [ -n "$EPOCHREALTIME" ]; then echo "$EPOCHREALTIME"; else date +%%s.%%N; fi; }
__nd_mark() { [ -z "$__nd_t" ] && __nd_t=$(__nd_now); return 0; }
__nd_record() {
	local line n cmd
	line=$(HISTTIMEFORMAT= builtin history 1)
	if [[ $line =~ ^[[:space:]]*([0-9]+)[[:space:]]+(.*)$ ]]; then
		n=${BASH_REMATCH[1]} cmd=${BASH_REMATCH[2]}
		if [ "$n" != "$__nd_last" ] && [ -n "$cmd" ]; then
			__nd_last=$n
			cmd=${cmd//$'\n'/ }
			printf '%%s\t%%s\t%%s\t%%s\n' "${__nd_t:-$(__nd_now)}" "$__nd_who" "$__nd_host" "$cmd" >>"$__nd_file"
		fi
	fi
	__nd_t=
}
trap '__nd_mark' DEBUG
trap '__nd_record' EXIT
PROMPT_COMMAND=__nd_record
PS1='\[\e[1m\][drill %s: %s@\h]\[\e[0m\] \w\$ '
`, file, who, host, lab, who)
}
