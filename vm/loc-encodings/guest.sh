#!/bin/bash
# What ftrace, perf, trace-cmd and bpftrace make of __rel_loc and __data_loc fields (the README's
# wire-format table). Runs in the guest: vm/run.sh vm/loc-encodings/guest.sh
# Needs perf, trace-cmd and bpftrace (apt-get install bpftrace) on the host's /.
T=/sys/kernel/tracing
M=$(dirname "$0")
cd /tmp
export PAGER=cat TERM=dumb LESS=FRX
py() { /usr/bin/python3 $M/meas.py "$@"; }
echo '===== boot' ; uname -r
echo 'u:enc_rel u32 a; __rel_loc char[] s; __rel_loc u8[] d' >> $T/dynamic_events
echo 'u:enc_data u32 a; __data_loc char[] s; __data_loc u8[] d' >> $T/dynamic_events
echo 'u:enc_chars u32 a; char[8] c' >> $T/dynamic_events
for e in enc_rel enc_data enc_chars; do echo "===== format $e"; cat $T/events/user_events/$e/format; done
echo '===== ftrace trace'
for e in enc_rel enc_data; do echo 1 > $T/events/user_events/$e/enable; done
py hello other 2>&1
grep enc_ $T/trace
echo '===== ftrace filter s == "hello"'
echo > $T/trace
for e in enc_rel enc_data; do echo 's == "hello"' > $T/events/user_events/$e/filter || echo "filter refused on $e"; done
py hello other 2>&1
grep enc_ $T/trace
for e in enc_rel enc_data; do echo 0 > $T/events/user_events/$e/filter; echo 0 > $T/events/user_events/$e/enable; done
echo '===== hist keys=s (string key)'
for e in enc_rel enc_data; do echo 'hist:keys=s:vals=a' >> $T/events/user_events/$e/trigger || echo "hist refused on $e"; done
py hello other hello 2>&1
for e in enc_rel enc_data; do echo "--- $e"; grep -v '^#' $T/events/user_events/$e/hist; echo '!hist:keys=s:vals=a' >> $T/events/user_events/$e/trigger; done
echo '===== perf'
timeout 60 perf record -q -e user_events:enc_rel -e user_events:enc_data -o /tmp/p.data -- /usr/bin/python3 $M/meas.py hello 2>&1
timeout 60 perf --no-pager script -i /tmp/p.data 2>&1 | cat
echo '===== trace-cmd'
timeout 60 trace-cmd record -q -e user_events:enc_rel -e user_events:enc_data -o /tmp/t.dat /usr/bin/python3 $M/meas.py hello 2>&1 | tail -3
echo '--- report'; trace-cmd report -i /tmp/t.dat 2>&1 | grep enc_
echo '--- report -R'; trace-cmd report -R -i /tmp/t.dat 2>&1 | grep enc_
echo '===== bpftrace'
bpftrace --version
for e in enc_data enc_rel; do
  echo "--- $e: --emit-elf (dry run, compiles to BPF without loading)"
  bpftrace --include $M/types.h --emit-elf /tmp/$e.o -e "tracepoint:user_events:$e { printf(\"%d %s\\n\", args->a, str(args->s)); }" 2>&1 | tail -6
  ls -la /tmp/$e.o 2>&1
  echo "--- $e: run"
  timeout 60 bpftrace --include $M/types.h -e "tracepoint:user_events:$e { printf(\"%d %s\\n\", args->a, str(args->s)); }" -c "/usr/bin/python3 $M/meas.py hello" 2>&1 | tail -4
done
echo '===== done'
