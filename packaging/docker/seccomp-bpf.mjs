#!/usr/bin/env node
// Derives a seccomp profile that lets a container use bpf(2) (and
// perf_event_open(2)) with CAP_BPF (CAP_PERFMON) instead of CAP_SYS_ADMIN,
// from an engine's default profile that only allows them with CAP_SYS_ADMIN
// (e.g. the containers-common profile of Debian 12's podman):
//
//   node seccomp-bpf.mjs [/usr/share/containers/seccomp.json] > couic-seccomp.json
//   podman run --security-opt seccomp=couic-seccomp.json --cap-drop ALL \
//     --cap-add CAP_BPF --cap-add CAP_NET_ADMIN --cap-add CAP_PERFMON ...
//
// Every rule that names one of these syscalls loses it; then each gets: allowed
// with CAP_SYS_ADMIN, allowed with its own capability, EPERM otherwise.
// (Checked: Docker 20.10 and Debian 12 containers-common defaults lack such rules;
// newer engines may have them, then this profile is not needed.)
import { readFileSync } from 'node:fs';

const src = process.argv[2] ?? '/usr/share/containers/seccomp.json';
const profile = JSON.parse(readFileSync(src, 'utf8'));
const wanted = { bpf: 'CAP_BPF', perf_event_open: 'CAP_PERFMON' };

const syscalls = [];
for (const rule of profile.syscalls ?? []) {
  const names = (rule.names ?? []).filter((n) => !(n in wanted));
  if (names.length > 0) syscalls.push({ ...rule, names });
}
for (const [name, cap] of Object.entries(wanted)) {
  syscalls.push(
    { names: [name], action: 'SCMP_ACT_ALLOW', args: [], includes: { caps: ['CAP_SYS_ADMIN'] }, excludes: {} },
    { names: [name], action: 'SCMP_ACT_ALLOW', args: [], includes: { caps: [cap] }, excludes: {} },
    { names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [], includes: {}, excludes: { caps: ['CAP_SYS_ADMIN', cap] } },
  );
}
process.stdout.write(`${JSON.stringify({ ...profile, syscalls }, null, 2)}\n`);
