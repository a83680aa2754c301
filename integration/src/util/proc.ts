/** What /proc says: live processes, process groups, PID namespaces and listening sockets. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';

/** True while a process with this pid exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  if (!pid || pid < 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids of every live process whose process group is `pgid`. */
export function processGroupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      // rest[0]=state rest[1]=ppid rest[2]=pgrp
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') out.push(Number(entry));
    } catch {}
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A listening TCP socket from /proc/net/tcp{,6}. */
export interface ListeningSocket {
  /** Local address as text: '127.0.0.1', '0.0.0.0', '::', '::1', '::ffff:127.0.0.1'. */
  address: string;
  port: number;
  inode: number;
  family: 4 | 6;
}

function hexToIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function hexToIpv6(hex: string): string {
  // four little-endian 32-bit words
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const full = groups.join(':');
  if (full === '0:0:0:0:0:0:0:0') return '::';
  if (full === '0:0:0:0:0:0:0:1') return '::1';
  return full;
}

/** Every listening TCP socket on the machine (this network namespace). */
export function listeningSockets(): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const [file, family] of [
    ['/proc/net/tcp', 4],
    ['/proc/net/tcp6', 6],
  ] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      const [addrHex, portHex] = (f[1] ?? '').split(':');
      if (!addrHex || !portHex) continue;
      out.push({
        address: family === 4 ? hexToIpv4(addrHex) : hexToIpv6(addrHex),
        port: Number.parseInt(portHex, 16),
        inode: Number(f[9]),
        family,
      });
    }
  }
  return out;
}

/** Socket inodes held open by a process. */
function socketInodesOf(pid: number): Set<number> {
  const out = new Set<number>();
  for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {}
  }
  return out;
}

/** Listening sockets owned by any member of the given process groups (and the given pids). */
export function listeningSocketsOfGroups(pgids: number[]): ListeningSocket[] {
  const pids = new Set<number>();
  for (const g of pgids) {
    pids.add(g);
    for (const p of processGroupMembers(g)) pids.add(p);
  }
  return listeningSocketsOfProcesses([...pids]);
}

/** Listening sockets (in this network namespace) owned by any of the given processes. */
export function listeningSocketsOfProcesses(pids: number[]): ListeningSocket[] {
  const inodes = new Set<number>();
  for (const p of pids) for (const i of socketInodesOf(p)) inodes.add(i);
  return listeningSockets().filter((s) => inodes.has(s.inode));
}

/**
 * Every process in the PID namespace of `pid` (a container's processes, seen from the host), or []
 * when `pid` is not a process here.
 */
export function processesInPidNamespaceOf(pid: number): number[] {
  let ns = '';
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of safeReaddir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) === ns) out.push(Number(e));
    } catch {}
  }
  return out;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True for an address of 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104, in any textual form (also
 * 0:0:0:0:0:0:0:1, ::ffff:7f00:2); false for anything else, host names included.
 */
export function isLoopback(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
