# Fail2Ban Python action for couic, the XDP/eBPF firewall daemon.
#
#   [DEFAULT]
#   banaction = couic.py
#   banaction_allports = couic.py
# or per jail: action = couic.py[socket="/run/couic/couic.sock", client_file="…"]
#
# Same semantics as action.d/couic.conf (a claim of the owner fail2ban-<name>
# per ban through the daemon's `/v1/bans/{owner}` API, the ban's end as
# expiration, idempotent ban/unban, one request per flush), without a process
# per ban: the action keeps ONE keep-alive HTTP/1.1 connection to the daemon's
# Unix socket, served by a sender thread. ban()/unban()/prolong() only queue
# the operation and return; the sender sends the queue in order, every run of
# consecutive bans as one JSON array POST (all the bans that arrived while the
# previous request was in flight), every run of unbans as pipelined DELETEs.
# A sender woken from idle by a ban first lingers while more bans keep
# coming (up to `linger` seconds), so the first request of a burst carries
# its first hundreds of bans, not one. So a restart restoring 20,000 bans,
# or a bulk `banip`, costs a handful of requests (and fsyncs) in the daemon,
# not 20,000, and the sender takes Python's GIL from fail2ban's own thread a
# handful of times, not 20,000.
#
# Failures never pass silently: an operation the daemon refuses, or that
# cannot reach it, is logged at ERROR in fail2ban's log (with the daemon's
# message). A broken connection is re-opened and the request sent again
# (every operation is idempotent), and a 503 (`busy`/`unavailable`) answer
# is retried too, within `timeout` seconds (the request is rebuilt on each
# try, so a clamped expiration stays in the future). While the daemon stays
# unavailable the bans are kept in a bounded backlog (`backlog` items) and
# retried; bans beyond it, or still unsent at stop, are dropped with an
# ERROR in fail2ban's log.
#
# Options ([Init] of the jail's action line; strings):
#   socket       the daemon's API socket            (/run/couic/couic.sock)
#   client_file  file with `token = "…"` (admin or clientrw client)
#                                   (/var/lib/couic/rbac/clients/couicctl.toml)
#   owner        owner/tag of the jail's bans       (fail2ban-<jail name>)
#   timeout      seconds: connect/answer timeout and retry window (5)
#   batch        most bans in one request           (2000)
#   backlog      most operations kept while the daemon is unavailable (20000)
#   linger       most seconds an idle sender waits for the rest of a burst (0.05)

import ipaddress
import json
import math
import os
import socket
import threading
import time
from collections import deque

from fail2ban.server.action import ActionBase

DEFAULT_SOCKET = "/run/couic/couic.sock"
DEFAULT_CLIENT_FILE = "/var/lib/couic/rbac/clients/couicctl.toml"
LINGER_STEP = 0.005
_OWNER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class CouicError(Exception):
	"""The daemon answered with an error, or could not be reached."""

	def __init__(self, msg, transport=False):
		Exception.__init__(self, msg)
		self.transport = transport


def _parse_net(ip):
	"""IP or CIDR text -> (network, prefix) normalised, or ValueError."""
	s = str(ip)
	if "/" not in s and ":" not in s:
		# the common case, a single IPv4 address: inet_pton takes only the
		# canonical dotted quad (no leading zeros, no spaces), which is its
		# own normal form; anything else goes the long way below
		try:
			socket.inet_pton(socket.AF_INET, s)
			return s, 32
		except OSError:
			pass
	if not s or s != s.strip() or "%" in s:
		raise ValueError("not an IPv4/IPv6 address or CIDR: %r" % s)
	net = ipaddress.ip_network(s, strict=False)
	return str(net.network_address), net.prefixlen


def _expiration(start, bantime):
	"""fail2ban's ban end as unix seconds (0 = permanent)."""
	bantime = float(bantime)
	if bantime < 0:
		return 0
	# fail2ban's database keeps round(time): a restored ban gets the same end
	return int(round(float(start))) + int(math.ceil(bantime))


def _read_token(path):
	with open(path, "r") as f:
		for line in f:
			k, sep, v = line.partition("=")
			if sep and k.strip() == "token":
				v = v.strip()
				if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
					return v[1:-1]
	raise CouicError("no 'token = \"...\"' line in client file %s" % path)


class _Conn(object):
	"""One keep-alive HTTP/1.1 connection over a Unix socket; pipelining capable."""

	def __init__(self, path, timeout):
		self.path = path
		self.timeout = timeout
		self.sock = None
		self.buf = b""

	def close(self):
		if self.sock is not None:
			try:
				self.sock.close()
			except OSError:
				pass
		self.sock = None
		self.buf = b""

	def open(self):
		if self.sock is None:
			s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
			s.settimeout(self.timeout)
			try:
				s.connect(self.path)
			except OSError as e:
				s.close()
				raise CouicError("cannot connect to %s: %s" % (self.path, e), transport=True)
			self.sock = s
			self.buf = b""

	def exchange(self, requests):
		"""Sends every (method, path, body|None, token) at once and returns [(status, body)]."""
		self.open()
		out = []
		for method, path, body, token in requests:
			head = ("%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: couic-fail2ban/1.0\r\n"
				"Authorization: Bearer %s\r\nAccept: application/json\r\n") % (method, path, token)
			if body is not None:
				head += "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
				out.append(head.encode("ascii") + body)
			else:
				out.append(head.encode("ascii") + b"\r\n")
		try:
			self.sock.sendall(b"".join(out))
			res = [self._response(m == "HEAD") for m, _p, _b, _t in requests]
		except CouicError:
			self.close()
			raise
		except (OSError, ValueError) as e:
			self.close()
			if isinstance(e, socket.timeout):
				raise CouicError("no answer from %s within %gs" % (self.path, self.timeout), transport=True)
			raise CouicError("connection to %s: %s" % (self.path, e), transport=True)
		return res

	def _fill(self):
		chunk = self.sock.recv(65536)
		if not chunk:
			raise CouicError("connection to %s closed by the daemon" % self.path, transport=True)
		self.buf += chunk

	def _line(self):
		while True:
			i = self.buf.find(b"\r\n")
			if i >= 0:
				line, self.buf = self.buf[:i], self.buf[i + 2:]
				return line
			self._fill()

	def _take(self, n):
		while len(self.buf) < n:
			self._fill()
		data, self.buf = self.buf[:n], self.buf[n:]
		return data

	def _response(self, head_only):
		status_line = self._line().decode("latin-1")
		parts = status_line.split(" ", 2)
		if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
			raise CouicError("malformed answer from %s: %r" % (self.path, status_line[:80]), transport=True)
		status = int(parts[1])
		headers = {}
		while True:
			line = self._line()
			if not line:
				break
			k, _s, v = line.decode("latin-1").partition(":")
			headers[k.strip().lower()] = v.strip()
		body = b""
		if head_only or status in (204, 304) or 100 <= status < 200:
			pass
		elif headers.get("transfer-encoding", "").lower() == "chunked":
			while True:
				size = int(self._line().split(b";")[0].strip() or b"0", 16)
				if size == 0:
					while self._line():
						pass
					break
				body += self._take(size)
				self._take(2)
		elif "content-length" in headers:
			body = self._take(int(headers["content-length"]))
		else:
			while True:  # until close
				try:
					self._fill()
				except CouicError:
					break
			body, self.buf = self.buf, b""
		if headers.get("connection", "").lower() == "close":
			self.close()
		return status, body


def _message(status, body):
	"""The daemon's error as one line."""
	text = body.decode("utf-8", "replace").strip()
	try:
		j = json.loads(text)
		if isinstance(j, dict) and "message" in j:
			text = j["message"]
			if j.get("errors"):
				text += " " + json.dumps(j["errors"], sort_keys=True)
	except ValueError:
		pass
	if len(text) > 600:
		text = text[:597] + "..."
	return "HTTP %d%s" % (status, (": " + text) if text else "")


class CouicAction(ActionBase):
	"""Bans through the couic daemon over one persistent connection."""

	# fail2ban reads action.banEpoch when a command action of the jail
	# invalidated its ban epoch; ActionBase does not define it.
	banEpoch = 0

	def __init__(self, jail, name, socket=DEFAULT_SOCKET, client_file=DEFAULT_CLIENT_FILE,
			owner=None, timeout="5", batch="2000", backlog="20000", linger="0.05", **kwargs):
		super(CouicAction, self).__init__(jail, name)
		self.socket = str(socket)
		self.client_file = str(client_file)
		self.owner = str(owner) if owner else "fail2ban-%s" % jail.name
		if (not 1 <= len(self.owner) <= 64 or not set(self.owner) <= _OWNER_CHARS
				or self.owner.lower() == "untagged"):
			raise ValueError("couic: invalid owner %r: 1 to 64 characters of [A-Za-z0-9_-]"
				" (name the jail accordingly or set owner=...)" % self.owner)
		self.timeout = float(timeout)
		self.batch = max(1, int(batch))
		self.backlog = max(1, int(backlog))
		self.linger = max(0.0, float(linger))
		self._conn = _Conn(self.socket, self.timeout)
		self._token = None
		self._cv = threading.Condition()
		self._queue = deque()   # (kind, payload, done-event or None)
		self._busy = False      # the sender holds operations taken off the queue
		self._idle = False      # the sender waits for an operation: wake it
		self._thread = None
		self._stopping = False
		self._outage = False    # the daemon is unavailable: bans wait in the backlog
		self._lost = 0

	# --- fail2ban interface ----------------------------------------------------

	def start(self):
		self._ensure_thread()

	def stop(self):
		"""Sends what is queued (bounded), then closes the connection."""
		self._drain(self.timeout * 2 + 1)
		with self._cv:
			self._stopping = True
			self._cv.notify_all()
		t = self._thread
		if t is not None:
			t.join(self.timeout + 1)
		self._thread = None
		self._conn.close()

	def ban(self, aInfo):
		self._enqueue("ban", self._ban_item(aInfo))

	def reban(self, aInfo):
		self.ban(aInfo)

	@property
	def _prolongable(self):
		return True

	def prolong(self, aInfo):
		# a POST for a claimed CIDR replaces its expiration
		self._enqueue("ban", self._ban_item(aInfo))

	def unban(self, aInfo):
		ip, plen = self._net(aInfo)
		self._enqueue("unban", (ip, plen))

	def flush(self):
		"""Everything queued first, then one DELETE of the owner's claims."""
		done = threading.Event()
		box = {}
		self._enqueue("flush", box, done)
		if not done.wait(self.timeout * 3 + 1):
			raise CouicError("couic: flush of %s did not complete in time" % self.owner)
		if "error" in box:
			raise box["error"]
		self._logSys.debug("couic: flushed %s: %s", self.owner, box.get("result"))
		return True

	# --- queue ---------------------------------------------------------------

	def _net(self, aInfo):
		try:
			return _parse_net(aInfo["ip"])
		except ValueError as e:
			raise ValueError("couic: refusing %r: %s" % (str(aInfo["ip"]), e))

	def _ban_item(self, aInfo):
		ip, plen = self._net(aInfo)
		if plen < (8 if ":" not in ip else 16):
			self._logSys.error("couic: refusing %s/%d for %s: prefix /%d is too wide for a ban:"
				" at least /8 (IPv4) or /16 (IPv6)", ip, plen, self.owner, plen)
			raise ValueError("couic: prefix /%d is too wide for a ban: at least /8 (IPv4) or /16 (IPv6)" % plen)
		return ("%s/%d" % (ip, plen), _expiration(aInfo["time"], aInfo["bantime"]))

	def _ensure_thread(self):
		if self._thread is None or not self._thread.is_alive():
			self._stopping = False
			t = threading.Thread(target=self._run, name="f2b/couic.%s" % self.owner)
			t.daemon = True
			self._thread = t
			t.start()

	def _enqueue(self, kind, payload, done=None):
		with self._cv:
			self._ensure_thread()
			self._queue.append((kind, payload, done))
			if len(self._queue) > self.backlog:
				self._trim()
			# a busy sender comes back for the queue by itself: waking it for
			# every ban would only hand it the GIL, away from fail2ban's thread
			if self._idle:
				self._cv.notify_all()

	def _trim(self):
		"""Bounds the backlog: drops the oldest bans/unbans beyond `backlog` (ERROR)."""
		over = len(self._queue) - self.backlog
		if over <= 0:
			return
		kept = deque()
		dropped = []
		while self._queue:
			it = self._queue.popleft()
			if over > 0 and it[0] != "flush":
				dropped.append(it)
				over -= 1
			else:
				kept.append(it)
		self._queue = kept
		if dropped:
			self._lost += len(dropped)
			self._logSys.error("couic: backlog of %s full (%d): dropped %d operation(s) (%s %s, ...)"
				" while the daemon is unavailable", self.owner, self.backlog, len(dropped),
				dropped[0][0], dropped[0][1][0] if dropped[0][0] == "ban" else "%s/%d" % dropped[0][1])

	def _requeue(self, items, what, err):
		"""Puts failed bans back at the head of the queue (the backlog), or drops them at stop."""
		if not self._outage:
			self._logSys.error("couic: the daemon on %s is unavailable (%s): keeping %s for %s in the backlog",
				self.socket, err, what, self.owner)
			self._outage = True
		with self._cv:
			if self._stopping:
				self._lose(len(items), what + " (dropped at stop)", err)
				return
			for it in reversed(items):
				self._queue.appendleft(("ban", it, None))
			self._trim()
		time.sleep(min(0.5, self.timeout))

	def _drain(self, wait):
		"""Waits until the sender has sent everything queued so far."""
		deadline = time.time() + wait
		with self._cv:
			while self._queue or self._busy:
				if self._thread is None or not self._thread.is_alive():
					break
				left = deadline - time.time()
				if left <= 0:
					self._logSys.error("couic: %d operation(s) for %s still unsent at stop",
						len(self._queue), self.owner)
					return False
				self._cv.wait(min(left, 0.1))
		return True

	def _linger(self):
		"""Called with the lock held, woken by the first ban of a burst (a banip,
		a restore): waits while more bans keep coming, LINGER_STEP at a time,
		at most `linger` in all or until a batch is full. A lone ban waits one
		step. Every wake-up of this thread takes Python's GIL from fail2ban's
		banning thread (and on a busy machine costs it milliseconds), so one
		request for a burst's first hundreds of bans beats a hundred small ones."""
		deadline = time.time() + self.linger
		seen = 0
		while (len(self._queue) > seen and len(self._queue) < self.batch and not self._stopping
				and time.time() < deadline):
			seen = len(self._queue)
			self._cv.wait(min(LINGER_STEP, self.linger))

	def _take(self):
		"""The next group: consecutive bans, or consecutive unbans, or one flush."""
		with self._cv:
			woke = False
			while not self._queue:
				if self._stopping:
					return None
				self._idle = woke = True
				self._cv.wait(1.0)
				self._idle = False
			kind = self._queue[0][0]
			if woke and kind == "ban":
				self._linger()
			group = []
			limit = 1 if kind == "flush" else (self.batch if kind == "ban" else 256)
			while self._queue and self._queue[0][0] == kind and len(group) < limit:
				group.append(self._queue.popleft())
			self._busy = True
			return kind, group

	def _run(self):
		while True:
			got = self._take()
			if got is None:
				return
			kind, group = got
			try:
				if kind == "ban":
					self._send_bans([g[1] for g in group])
				elif kind == "unban":
					self._send_unbans([g[1] for g in group])
				else:
					self._send_flush(group[0][1])
			except Exception as e:  # never let the sender die
				self._logSys.error("couic: %s of %d item(s) for %s failed: %s", kind, len(group), self.owner, e)
			finally:
				for g in group:
					if g[2] is not None:
						g[2].set()
				with self._cv:
					self._busy = False
					self._cv.notify_all()

	# --- requests ------------------------------------------------------------

	def _token_value(self, reload=False):
		if self._token is None or reload:
			try:
				self._token = _read_token(self.client_file)
			except (OSError, UnicodeDecodeError) as e:
				raise CouicError("cannot read client file %s: %s" % (self.client_file, e), transport=True)
		return self._token

	def _exchange(self, build, what):
		"""Runs build(token) -> requests with retries; returns the responses or raises CouicError."""
		deadline = time.time() + self.timeout
		delay = 0.05
		attempt = 0
		while True:
			attempt += 1
			try:
				token = self._token_value()
				res = self._conn.exchange(build(token))
				if any(st == 401 for st, _b in res) and attempt == 1:
					self._token_value(reload=True)  # the client file may have been rewritten
					res = self._conn.exchange(build(self._token))
				if any(st == 503 for st, _b in res):
					# busy/unavailable: retried within the window (idempotent)
					if time.time() < deadline and not self._stopping:
						time.sleep(delay)
						delay = min(delay * 2, 0.5)
						continue
					return res
				if self._outage:
					self._logSys.warning("couic: the daemon answers again on %s (%d operation(s) were lost)",
						self.socket, self._lost)
					self._outage = False
					self._lost = 0
				return res
			except CouicError as e:
				if not e.transport:
					raise
				# first failure on a kept-alive connection: reconnect at once
				if attempt == 1:
					continue
				if time.time() >= deadline or self._stopping:
					raise
				time.sleep(delay)
				delay = min(delay * 2, 0.5)

	def _lose(self, n, what, err):
		self._lost += n
		self._logSys.error("couic: %s for %s failed: %s", what, self.owner, err)

	def _send_bans(self, items):
		path = "/v1/bans/%s" % self.owner

		def body(its):
			# the daemon wants a future expiration; a ban ending now is sent
			# for 2 more seconds (fail2ban unbans it meanwhile). Built on
			# each try: a retry recomputes "now".
			now = int(time.time())
			return json.dumps([{"cidr": c, "expiration": (e if e == 0 or e > now + 1 else now + 2)}
				for c, e in its], separators=(",", ":")).encode("ascii")

		what = "ban of %d address(es) (%s%s)" % (len(items), items[0][0], ", ..." if len(items) > 1 else "")
		try:
			((st, resp),) = self._exchange(lambda tok: [("POST", path, body(items), tok)], "ban")
		except CouicError as e:
			if not e.transport:
				self._lose(len(items), what, e)
				return
			self._requeue(items, what, e)
			return
		if st == 503:
			self._requeue(items, what, _message(st, resp))
			return
		if 200 <= st < 300:
			return
		if len(items) > 1 and st in (400, 413, 422):
			# one bad item spoils the array: send them one by one to keep the good ones
			for it in items:
				self._send_bans([it])
			return
		self._lose(len(items), "ban of %s" % items[0][0], _message(st, resp))

	def _send_unbans(self, nets):
		def build(tok):
			return [("DELETE", "/v1/bans/%s/%s/%d" % (self.owner, ip, plen), None, tok) for ip, plen in nets]
		try:
			res = self._exchange(build, "unban")
		except CouicError as e:
			self._lose(len(nets), "unban of %d address(es) (%s/%d%s)" % (
				len(nets), nets[0][0], nets[0][1], ", ..." if len(nets) > 1 else ""), e)
			return
		for (ip, plen), (st, resp) in zip(nets, res):
			if not (200 <= st < 300):
				self._lose(1, "unban of %s/%d" % (ip, plen), _message(st, resp))

	def _send_flush(self, box):
		path = "/v1/bans/%s" % self.owner
		try:
			((st, resp),) = self._exchange(lambda tok: [("DELETE", path, None, tok)], "flush")
		except CouicError as e:
			box["error"] = CouicError("couic: flush of %s failed: %s" % (self.owner, e))
			return
		if 200 <= st < 300:
			box["result"] = resp.decode("utf-8", "replace")
		else:
			box["error"] = CouicError("couic: flush of %s failed: %s" % (self.owner, _message(st, resp)))


Action = CouicAction
