#!/bin/sh
# SPDX-License-Identifier: ISC
# A scripted pinentry for the pin-*.sh tests: speaks the Assuan server
# side on stdin/stdout as pinentry programs do. $FAKE_PINENTRY_DIR holds
# its script: "pin" (sent, %-escaped as given, on GETPIN), "mode" (ok,
# slow, cancel or hang; default ok) and it appends what it saw: "desc" (SETDESC
# lines), "error" (SETERROR lines), "options" (OPTION lines) and
# "getpin" (one line per GETPIN), so tests can count the questions.
d=${FAKE_PINENTRY_DIR:?}
echo "OK Pleased to meet you"
while IFS= read -r line; do
	case $line in
	SETDESC\ *)
		printf '%s\n' "${line#SETDESC }" >>"$d/desc"
		echo OK ;;
	SETERROR\ *)
		printf '%s\n' "${line#SETERROR }" >>"$d/error"
		echo OK ;;
	OPTION\ *)
		printf '%s\n' "${line#OPTION }" >>"$d/options"
		echo OK ;;
	GETPIN)
		echo getpin >>"$d/getpin"
		mode=ok
		[ -f "$d/mode" ] && mode=$(cat "$d/mode")
		case $mode in
		cancel) echo "ERR 83886179 Operation cancelled <Pinentry>" ;;
		slow) sleep 5; printf 'D %s\nOK\n' "$(cat "$d/pin")" ;;
		hang) sleep 30; echo "ERR 83886179 Operation cancelled" ;;
		*) printf 'D %s\nOK\n' "$(cat "$d/pin")" ;;
		esac ;;
	CONFIRM*)
		echo confirm >>"$d/confirm"
		echo OK ;;
	BYE)
		echo "OK closing connection"
		exit 0 ;;
	*)
		echo OK ;;
	esac
done
