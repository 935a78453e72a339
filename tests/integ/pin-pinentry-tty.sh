#!/bin/sh
# SPDX-License-Identifier: ISC
# A real pinentry: the agent runs on a terminal (a pty driven by Python)
# with --pinentry pinentry-tty and no PIN; the first signature makes
# pinentry-tty ask on that terminal (OPTION ttyname), showing the token
# and the client; the PIN typed there logs the agent in.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/token-lib.sh"
need_fixture
PE=$(command -v pinentry-tty 2>/dev/null) || skip "pinentry-tty not installed"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
private_token
mkdir -p "$T/a"
chmod 700 "$T/a"
P11AGENT_SOCK=$T/a/sock
export P11AGENT_SOCK
printf 'typed on a terminal' >"$T/msg"
python3 - "$T" "$PE" "$P11AGENT_TEST_MODULE" "$P11AGENT_TEST_PINFILE" <<'PY'
import os, pty, select, subprocess, sys, time
tdir, pe, module, pinfile = sys.argv[1:5]
pin = open(pinfile).read().strip().encode()
master, slave = pty.openpty()
agent = subprocess.Popen(
    ["p11agent", "--foreground", "--socket", tdir + "/a/sock",
     "--agent-key", tdir + "/a/agent.key", "--module", module,
     "--pinentry", pe],
    stdin=slave, stdout=open(tdir + "/a/out", "w"),
    stderr=open(tdir + "/a/log", "w"), start_new_session=True)
try:
    for _ in range(300):
        if os.path.exists(tdir + "/a/sock.pub"):
            break
        if agent.poll() is not None:
            sys.exit("agent exited: " + open(tdir + "/a/log").read())
        time.sleep(0.1)
    else:
        sys.exit("agent did not start")
    signer = subprocess.Popen(
        ["p11", "sign", "--key", "carol", "--alg", "ecdsa-sha256",
         "--in", tdir + "/msg", "--out", tdir + "/sig"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, typed, until = b"", False, time.time() + 30
    while signer.poll() is None and time.time() < until:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            seen += os.read(master, 4096)
        if not typed and b"PIN" in seen and b"p11agent-demo" in seen:
            os.write(master, pin + b"\r")
            typed = True
    out, err = signer.communicate(timeout=30)
    text = seen.decode(errors="replace")
    if not typed:
        sys.exit("pinentry-tty never asked; the terminal showed: " + text)
    if signer.returncode != 0:
        sys.exit("sign failed: " + err.decode(errors="replace"))
    if 'client "p11' not in text:
        sys.exit("the prompt does not name the client: " + text)
    if pin.decode() in text:
        sys.exit("the PIN was echoed")
finally:
    agent.terminate()
    agent.wait()
PY
verify_sig carol "$T/msg" "$T/sig" || fail "signature after pinentry-tty"
pass "pinentry-tty on a terminal"
