"""A tiny authoritative DNS server for the tests: UDP on 127.0.0.1, records changed at runtime.

    dns = DnsServer(port=53).start()
    dns.set("db.pgfjord.test", a=["127.0.0.1"], ttl=300)   # A and/or AAAA (aaaa=[...])
    dns.set("db.pgfjord.test", aaaa=["::1"])               # replaces the name's records
    dns.remove("db.pgfjord.test")                          # NXDOMAIN from now on
    dns.silent("db.pgfjord.test")                          # queries for it get no answer
    dns.set_serial("pgfjord.test", 7)                      # SOA of a zone (default serial 1)
    dns.count("db.pgfjord.test", "A")                      # queries seen for name and type
    dns.stop()

A name with records but none of the asked type gets NOERROR with no answers (NODATA), as a
real server does; an unknown name gets NXDOMAIN. The SOA of every zone (a known name minus its
first label, or a zone given to set_serial) is answered. Nothing is ever forwarded.
Only the standard library is used (Debian's python3, no PyPI).
"""

import socket
import struct
import threading

TYPES = {"A": 1, "SOA": 6, "AAAA": 28}


class DnsServer:
    def __init__(self, host="127.0.0.1", port=53):
        self.host = host
        self.port = port
        self.lock = threading.Lock()
        self.records = {}   # name -> {"a": [...], "aaaa": [...], "ttl": n}
        self.serials = {}   # zone -> serial
        self.quiet = set()  # names whose queries are dropped
        self.counts = {}    # (name, qtype) -> queries
        self.sock = None
        self.thread = None
        self.stopping = False

    # -- lifecycle

    def start(self):
        """Bind (OSError if the port is taken) and answer in a thread."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, name="dnsserver", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        if self.thread:
            self.thread.join(5)
        if self.sock:
            self.sock.close()

    # -- records

    def set(self, name, a=(), aaaa=(), ttl=300):
        with self.lock:
            self.records[name.lower()] = {"a": list(a), "aaaa": list(aaaa), "ttl": ttl}
            self.quiet.discard(name.lower())

    def remove(self, name):
        with self.lock:
            self.records.pop(name.lower(), None)
            self.quiet.discard(name.lower())

    def silent(self, name):
        with self.lock:
            self.quiet.add(name.lower())

    def set_serial(self, zone, serial):
        with self.lock:
            self.serials[zone.lower()] = serial

    def count(self, name, qtype="A"):
        with self.lock:
            return self.counts.get((name.lower(), TYPES[qtype]), 0)

    # -- protocol

    def _serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue  # not a query we understand: drop it
            if reply:
                self.sock.sendto(reply, peer)

    @staticmethod
    def _qname(data):
        labels, pos = [], 12
        while data[pos]:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode("ascii"))
            pos += 1 + n
        return ".".join(labels).lower(), pos + 1

    def _zone_serial(self, name):
        """The serial if name is a zone we answer for, else None."""
        if name in self.serials:
            return self.serials[name]
        for known in self.records:
            if known.split(".", 1)[-1] == name and "." in known:
                return 1
        return None

    def _answer(self, data):
        (qid, flags, qdcount) = struct.unpack("!HHH", data[:6])
        if qdcount != 1 or flags & 0x8000:
            return None
        name, pos = self._qname(data)
        qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
        question = data[12:pos + 4]
        with self.lock:
            self.counts[(name, qtype)] = self.counts.get((name, qtype), 0) + 1
            if name in self.quiet:
                return None
            rec = self.records.get(name)
            serial = self._zone_serial(name)
            answers = []
            if qtype == TYPES["SOA"] and serial is not None:
                rdata = b"\xc0\x0c\xc0\x0c" + struct.pack("!IIIII", serial, 60, 60, 600, 1)
                answers.append(self._rr(TYPES["SOA"], 60, rdata))
            elif rec and qtype == TYPES["A"]:
                answers += [self._rr(qtype, rec["ttl"], socket.inet_pton(socket.AF_INET, ip))
                            for ip in rec["a"]]
            elif rec and qtype == TYPES["AAAA"]:
                answers += [self._rr(qtype, rec["ttl"], socket.inet_pton(socket.AF_INET6, ip))
                            for ip in rec["aaaa"]]
            rcode = 0 if rec or serial is not None else 3  # NXDOMAIN
        # response, authoritative, recursion desired copied, recursion available
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        header = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)

    @staticmethod
    def _rr(rtype, ttl, rdata):
        # the name is a pointer to the question's name (offset 12)
        return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
