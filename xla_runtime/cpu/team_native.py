"""The native half of the thread team (``team.py``): LLVM IR for the helpers' loop, the caller's
run of a job, and the steps a job is made of (single-threaded BLAS gemms, compiled kernels).

Helpers never hold the GIL: each lives inside one ctypes call, spinning on the job generation
word for a while after its last job, then sleeping on it (a futex). A job is an int64 array the
caller fills; chunks are taken with an atomic counter, so whichever thread is free takes the
next. Nothing here calls back into Python.

Shared words (``ctrl``, int64):
    0 generation (the futex word: its low 32 bits)   1 job address (0: none)   2 stop
    3 sleeping helpers   4 helpers inside a job   5 spin budget (ns)
    6 sgemm   7 dgemm   8 syscall   9 clock_gettime   10 the futex syscall number
    11 spin at least until this time (ns, CLOCK_MONOTONIC): a wake announces a job (cleared when
       it comes, or when the node runs elsewhere after all)
    12 how long a wake keeps the helpers spinning (ns)   13 sched_yield
    14 deferred deadline (ns; 0: none): a spinning helper past it bumps word 15 and wakes its waiter
    15 deferred firings (the Python dispatcher sleeps on it: ``team.defer``)
    16 + t: chunks thread t has run (t < MAX_THREADS; the caller is thread 0)
Job words: 0 chunks   1 extent   2 next chunk   3 chunks done   4 steps   5 threads   6... steps,
each [kind, length in words, ...]:
    gemm (1):   dtype (0 f32, 1 f64), transA, transB, mode (0 rows, 1 batches), r, M, N, K, lda,
                ldb, ldc, A, B, C (the arrays' PyObject addresses: their data pointers are read
                here, at ``data_offset``), A step, B step, C step (bytes per row or per batch).
                Chunk units [lo, hi) are rows [lo*r, hi*r) (one call) or batches [lo*r, hi*r).
    kernel (2): function, arrays, shared arrays, the shared ones' PyObject addresses, then each
                thread's own (scratch) arrays; called as fn(arrays..., lo, hi).
"""
from __future__ import annotations

import platform

VERSION = "1"
MAX_KERNEL_ARGS = 48
SYMBOLS = ("xrt_team_helper", "xrt_team_run", "xrt_team_wake", "xrt_team_stop", "xrt_team_wait")
GEMM, KERNEL = 1, 2
GEMM_WORDS = 19
MAX_THREADS = 256
CTRL_WORDS = 16 + MAX_THREADS
FUTEX_WAIT, FUTEX_WAKE = 128, 129          # the _PRIVATE forms
FUTEX_SYSCALL = {"x86_64": 202, "aarch64": 98}


def _relax() -> str:
    return "call void @llvm.x86.sse2.pause()" if platform.machine() == "x86_64" else ""


def generate(blasint_bits: int, data_offset: int) -> str:
    """The module's LLVM IR text; BLAS integers are ``blasint_bits`` wide (64: ILP64 builds), an
    array's data pointer is ``data_offset`` bytes into its PyArrayObject."""
    it = f"i{blasint_bits}"
    relax = _relax()
    pause_decl = "declare void @llvm.x86.sse2.pause()" if relax else ""

    def to_blasint(name):
        return f"%{name}_b = trunc i64 %{name} to {it}" if blasint_bits == 32 else f"%{name}_b = add i64 %{name}, 0"

    gemm_args = ", ".join(f"{it} %{n}_b" for n in ("m", "n", "k"))
    # one call site for every kernel: the arguments go in registers and stack slots in order, the
    # same for pointers and i64 (SysV x86-64, AAPCS64), and a callee ignores those past its own:
    # fn(arrays..., lo, hi, 0, ...). A switch over the arity took LLVM 0.7 s to compile.
    slots = MAX_KERNEL_ARGS + 2
    loads = "\n".join(f"  %p{i} = getelementptr i64, ptr %buf, i64 {i}\n  %v{i} = load i64, ptr %p{i}, align 8"
                      for i in range(slots))
    call_args = ", ".join(f"i64 %v{i}" for i in range(slots))

    return f"""
{pause_decl}
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)

define internal i64 @ld(ptr %b, i64 %k) alwaysinline {{
  %p = getelementptr i64, ptr %b, i64 %k
  %v = load i64, ptr %p, align 8
  ret i64 %v
}}
define internal i64 @ald(ptr %b, i64 %k) alwaysinline {{
  %p = getelementptr i64, ptr %b, i64 %k
  %v = load atomic i64, ptr %p seq_cst, align 8
  ret i64 %v
}}
define internal void @ast(ptr %b, i64 %k, i64 %v) alwaysinline {{
  %p = getelementptr i64, ptr %b, i64 %k
  store atomic i64 %v, ptr %p seq_cst, align 8
  ret void
}}
define internal i64 @aadd(ptr %b, i64 %k, i64 %v) alwaysinline {{
  %p = getelementptr i64, ptr %b, i64 %k
  %o = atomicrmw add ptr %p, i64 %v seq_cst
  ret i64 %o
}}
define internal i64 @data(i64 %obj) alwaysinline {{
  %o = inttoptr i64 %obj to ptr
  %p = getelementptr i8, ptr %o, i64 {data_offset}
  %v = load i64, ptr %p, align 8
  ret i64 %v
}}
define internal i64 @now_ns(ptr %ctrl) {{
  %ts = alloca [2 x i64], align 8
  %fw = call i64 @ld(ptr %ctrl, i64 9)
  %f = inttoptr i64 %fw to ptr
  %r = call i32 %f(i32 1, ptr %ts)
  %s = load i64, ptr %ts, align 8
  %np = getelementptr i64, ptr %ts, i64 1
  %n = load i64, ptr %np, align 8
  %sn = mul i64 %s, 1000000000
  %t = add i64 %sn, %n
  ret i64 %t
}}
define internal void @futex_at(ptr %ctrl, i64 %word, i64 %op, i64 %val) {{
  %fw = call i64 @ld(ptr %ctrl, i64 8)
  %f = inttoptr i64 %fw to ptr
  %nr = call i64 @ld(ptr %ctrl, i64 10)
  %p = getelementptr i64, ptr %ctrl, i64 %word
  %addr = ptrtoint ptr %p to i64
  %r = call i64 (i64, ...) %f(i64 %nr, i64 %addr, i64 %op, i64 %val, i64 0, i64 0, i64 0)
  ret void
}}
define internal void @futex(ptr %ctrl, i64 %op, i64 %val) {{
  call void @futex_at(ptr %ctrl, i64 0, i64 %op, i64 %val)
  ret void
}}
; the deferred deadline has passed: take it (one helper does) and wake the dispatcher
define internal void @fire_deferred(ptr %ctrl, i64 %now) {{
entry:
  %d = call i64 @ald(ptr %ctrl, i64 14)
  %set = icmp ne i64 %d, 0
  %due = icmp sgt i64 %now, %d
  %go = and i1 %set, %due
  br i1 %go, label %take, label %done
take:
  %p = getelementptr i64, ptr %ctrl, i64 14
  %r = cmpxchg ptr %p, i64 %d, i64 0 seq_cst seq_cst
  %ok = extractvalue {{ i64, i1 }} %r, 1
  br i1 %ok, label %fire, label %done
fire:
  %x = call i64 @aadd(ptr %ctrl, i64 15, i64 1)
  call void @futex_at(ptr %ctrl, i64 15, i64 {FUTEX_WAKE}, i64 1)
  br label %done
done:
  ret void
}}
; spinning threads give their core away now and then: when there are more runnable threads than
; cores (another execution's nodes), a spinner must not hold up the thread it waits for
define internal void @yield(ptr %ctrl) {{
  %fw = call i64 @ld(ptr %ctrl, i64 13)
  %f = inttoptr i64 %fw to ptr
  %r = call i32 %f()
  ret void
}}
define internal void @backoff(ptr %ctrl, i64 %it) {{
  {relax}
  %low = and i64 %it, 63
  %now = icmp eq i64 %low, 63
  br i1 %now, label %y, label %done
y:
  call void @yield(ptr %ctrl)
  br label %done
done:
  ret void
}}
define internal void @wake_all(ptr %ctrl) {{
  %s = call i64 @ald(ptr %ctrl, i64 3)
  %any = icmp sgt i64 %s, 0
  br i1 %any, label %wake, label %done
wake:
  call void @futex(ptr %ctrl, i64 {FUTEX_WAKE}, i64 2147483647)
  br label %done
done:
  ret void
}}

define internal void @gemm_call(ptr %ctrl, i64 %dt, i64 %ta, i64 %tb, i64 %m, i64 %n, i64 %k, i64 %a, i64 %lda,
                                i64 %b, i64 %ldb, i64 %c, i64 %ldc) {{
  %ta32 = trunc i64 %ta to i32
  %tb32 = trunc i64 %tb to i32
  {to_blasint("m")}
  {to_blasint("n")}
  {to_blasint("k")}
  {to_blasint("lda")}
  {to_blasint("ldb")}
  {to_blasint("ldc")}
  %ap = inttoptr i64 %a to ptr
  %bp = inttoptr i64 %b to ptr
  %cp = inttoptr i64 %c to ptr
  %isd = icmp eq i64 %dt, 1
  br i1 %isd, label %d, label %s
s:
  %sw = call i64 @ld(ptr %ctrl, i64 6)
  %sf = inttoptr i64 %sw to ptr
  call void %sf(i32 101, i32 %ta32, i32 %tb32, {gemm_args}, float 1.0, ptr %ap, {it} %lda_b, ptr %bp,
                {it} %ldb_b, float 0.0, ptr %cp, {it} %ldc_b)
  ret void
d:
  %dw = call i64 @ld(ptr %ctrl, i64 7)
  %df = inttoptr i64 %dw to ptr
  call void %df(i32 101, i32 %ta32, i32 %tb32, {gemm_args}, double 1.0, ptr %ap, {it} %lda_b, ptr %bp,
                {it} %ldb_b, double 0.0, ptr %cp, {it} %ldc_b)
  ret void
}}

define internal void @gemm(ptr %ctrl, ptr %w, i64 %lo, i64 %hi) {{
entry:
  %dt = call i64 @ld(ptr %w, i64 2)
  %ta = call i64 @ld(ptr %w, i64 3)
  %tb = call i64 @ld(ptr %w, i64 4)
  %mode = call i64 @ld(ptr %w, i64 5)
  %r = call i64 @ld(ptr %w, i64 6)
  %m = call i64 @ld(ptr %w, i64 7)
  %n = call i64 @ld(ptr %w, i64 8)
  %k = call i64 @ld(ptr %w, i64 9)
  %lda = call i64 @ld(ptr %w, i64 10)
  %ldb = call i64 @ld(ptr %w, i64 11)
  %ldc = call i64 @ld(ptr %w, i64 12)
  %ao0 = call i64 @ld(ptr %w, i64 13)
  %a = call i64 @data(i64 %ao0)
  %bo0 = call i64 @ld(ptr %w, i64 14)
  %b = call i64 @data(i64 %bo0)
  %co0 = call i64 @ld(ptr %w, i64 15)
  %c = call i64 @data(i64 %co0)
  %as = call i64 @ld(ptr %w, i64 16)
  %bs = call i64 @ld(ptr %w, i64 17)
  %cs = call i64 @ld(ptr %w, i64 18)
  %first = mul i64 %lo, %r
  %last = mul i64 %hi, %r
  %batched = icmp ne i64 %mode, 0
  br i1 %batched, label %loop, label %rows
rows:
  %rm = sub i64 %last, %first
  %ao = mul i64 %first, %as
  %a1 = add i64 %a, %ao
  %co = mul i64 %first, %cs
  %c1 = add i64 %c, %co
  call void @gemm_call(ptr %ctrl, i64 %dt, i64 %ta, i64 %tb, i64 %rm, i64 %n, i64 %k, i64 %a1, i64 %lda, i64 %b,
                       i64 %ldb, i64 %c1, i64 %ldc)
  ret void
loop:
  %j = phi i64 [ %first, %entry ], [ %j1, %body ]
  %more = icmp slt i64 %j, %last
  br i1 %more, label %body, label %exit
body:
  %aj = mul i64 %j, %as
  %a2 = add i64 %a, %aj
  %bj = mul i64 %j, %bs
  %b2 = add i64 %b, %bj
  %cj = mul i64 %j, %cs
  %c2 = add i64 %c, %cj
  call void @gemm_call(ptr %ctrl, i64 %dt, i64 %ta, i64 %tb, i64 %m, i64 %n, i64 %k, i64 %a2, i64 %lda, i64 %b2,
                       i64 %ldb, i64 %c2, i64 %ldc)
  %j1 = add i64 %j, 1
  br label %loop
exit:
  ret void
}}

; argument k of a kernel step: a shared array (k < nf) or this thread's own
define internal i64 @arg(ptr %w, i64 %k, i64 %nf, i64 %own) alwaysinline {{
  %shared = icmp slt i64 %k, %nf
  %i0 = add i64 %k, 5
  %i1 = add i64 %i0, %own
  %i = select i1 %shared, i64 %i0, i64 %i1
  %v = call i64 @ld(ptr %w, i64 %i)
  ret i64 %v
}}

define internal void @kernel(ptr %w, i64 %tid, i64 %lo, i64 %hi) {{
entry:
  %buf = alloca [{slots} x i64], align 8
  call void @llvm.memset.p0.i64(ptr %buf, i8 0, i64 {slots * 8}, i1 false)
  %fw = call i64 @ld(ptr %w, i64 2)
  %fn = inttoptr i64 %fw to ptr
  %na = call i64 @ld(ptr %w, i64 3)
  %nf = call i64 @ld(ptr %w, i64 4)
  %per = sub i64 %na, %nf
  %own = mul i64 %tid, %per
  br label %loop
loop:
  %k = phi i64 [ 0, %entry ], [ %k1, %body ]
  %more = icmp slt i64 %k, %na
  br i1 %more, label %body, label %call
body:
  %a = call i64 @arg(ptr %w, i64 %k, i64 %nf, i64 %own)
  %pk = getelementptr i64, ptr %buf, i64 %k
  store i64 %a, ptr %pk, align 8
  %k1 = add i64 %k, 1
  br label %loop
call:
  %plo = getelementptr i64, ptr %buf, i64 %na
  store i64 %lo, ptr %plo, align 8
  %nh = add i64 %na, 1
  %phi = getelementptr i64, ptr %buf, i64 %nh
  store i64 %hi, ptr %phi, align 8
{loads}
  call void %fn({call_args})
  ret void
}}

define internal void @steps(ptr %ctrl, ptr %job, i64 %tid, i64 %lo, i64 %hi) {{
entry:
  %ns = call i64 @ld(ptr %job, i64 4)
  br label %loop
loop:
  %s = phi i64 [ 0, %entry ], [ %s1, %next ]
  %off = phi i64 [ 6, %entry ], [ %off1, %next ]
  %more = icmp slt i64 %s, %ns
  br i1 %more, label %body, label %exit
body:
  %w = getelementptr i64, ptr %job, i64 %off
  %kind = call i64 @ld(ptr %w, i64 0)
  %size = call i64 @ld(ptr %w, i64 1)
  %isg = icmp eq i64 %kind, {GEMM}
  br i1 %isg, label %g, label %kk
g:
  call void @gemm(ptr %ctrl, ptr %w, i64 %lo, i64 %hi)
  br label %next
kk:
  call void @kernel(ptr %w, i64 %tid, i64 %lo, i64 %hi)
  br label %next
next:
  %s1 = add i64 %s, 1
  %off1 = add i64 %off, %size
  br label %loop
exit:
  ret void
}}

define internal void @run_job(ptr %ctrl, ptr %job, i64 %tid) {{
entry:
  %n = call i64 @ld(ptr %job, i64 0)
  %ext = call i64 @ld(ptr %job, i64 1)
  br label %loop
loop:
  %i = call i64 @aadd(ptr %job, i64 2, i64 1)
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %exit
body:
  %el = mul i64 %ext, %i
  %lo = udiv i64 %el, %n
  %i1 = add i64 %i, 1
  %eh = mul i64 %ext, %i1
  %hi = udiv i64 %eh, %n
  call void @steps(ptr %ctrl, ptr %job, i64 %tid, i64 %lo, i64 %hi)
  %slot = add i64 %tid, 16
  %c = call i64 @aadd(ptr %ctrl, i64 %slot, i64 1)
  %d = call i64 @aadd(ptr %job, i64 3, i64 1)
  br label %loop
exit:
  ret void
}}

; a helper: spin on the generation word for the spin budget after each job, then sleep on it
define void @xrt_team_helper(ptr %ctrl, i64 %tid) {{
entry:
  %g0 = call i64 @ald(ptr %ctrl, i64 0)
  br label %outer
outer:
  %seen = phi i64 [ %g0, %entry ], [ %seen, %slept ], [ %g, %ran ]
  %t0 = call i64 @now_ns(ptr %ctrl)
  %budget = call i64 @ld(ptr %ctrl, i64 5)
  br label %spin
spin:
  %it = phi i64 [ 0, %outer ], [ %it1, %cont ], [ %it1, %timecheck ]
  %g = call i64 @ald(ptr %ctrl, i64 0)
  %changed = icmp ne i64 %g, %seen
  br i1 %changed, label %found, label %idle
idle:
  %stop = call i64 @ald(ptr %ctrl, i64 2)
  %stopping = icmp ne i64 %stop, 0
  br i1 %stopping, label %exit, label %relax
relax:
  call void @backoff(ptr %ctrl, i64 %it)
  %it1 = add i64 %it, 1
  %low = and i64 %it1, 255
  %check = icmp eq i64 %low, 0
  br i1 %check, label %timecheck, label %cont
timecheck:
  %t = call i64 @now_ns(ptr %ctrl)
  call void @fire_deferred(ptr %ctrl, i64 %t)
  %el = sub i64 %t, %t0
  %spent = icmp sgt i64 %el, %budget
  %until = call i64 @ald(ptr %ctrl, i64 11)
  %late = icmp sgt i64 %t, %until
  %pending = call i64 @ald(ptr %ctrl, i64 14)
  %none = icmp eq i64 %pending, 0
  %over0 = and i1 %spent, %late
  %over = and i1 %over0, %none               ; a deferred deadline keeps one awake to fire it
  br i1 %over, label %sleep, label %spin
cont:
  br label %spin
sleep:
  %x = call i64 @aadd(ptr %ctrl, i64 3, i64 1)
  %g2 = call i64 @ald(ptr %ctrl, i64 0)
  %same = icmp eq i64 %g2, %seen
  br i1 %same, label %wait, label %woke
wait:
  %val = and i64 %seen, 4294967295
  call void @futex(ptr %ctrl, i64 {FUTEX_WAIT}, i64 %val)
  br label %woke
woke:
  %y = call i64 @aadd(ptr %ctrl, i64 3, i64 -1)
  br label %slept
slept:
  br label %outer
found:
  %stop2 = call i64 @ald(ptr %ctrl, i64 2)
  %stopping2 = icmp ne i64 %stop2, 0
  br i1 %stopping2, label %exit, label %enter
enter:
  %e = call i64 @aadd(ptr %ctrl, i64 4, i64 1)
  %jw = call i64 @ald(ptr %ctrl, i64 1)
  %has = icmp ne i64 %jw, 0
  br i1 %has, label %run, label %leave
run:
  %job = inttoptr i64 %jw to ptr
  call void @run_job(ptr %ctrl, ptr %job, i64 %tid)
  br label %leave
leave:
  %l = call i64 @aadd(ptr %ctrl, i64 4, i64 -1)
  br label %ran
ran:
  br label %outer
exit:
  ret void
}}

; the caller: publish the job, take chunks with the helpers, wait for the last one, then for every
; helper to be out of the job (the caller may reuse its memory at once)
define void @xrt_team_run(ptr %ctrl, ptr %job) {{
entry:
  call void @ast(ptr %job, i64 2, i64 0)
  call void @ast(ptr %job, i64 3, i64 0)
  %jw = ptrtoint ptr %job to i64
  call void @ast(ptr %ctrl, i64 1, i64 %jw)
  %g = call i64 @aadd(ptr %ctrl, i64 0, i64 1)
  call void @ast(ptr %ctrl, i64 11, i64 0)      ; the job a wake announced has come
  call void @wake_all(ptr %ctrl)
  call void @run_job(ptr %ctrl, ptr %job, i64 0)
  %n = call i64 @ld(ptr %job, i64 0)
  br label %wait
wait:
  %i = phi i64 [ 0, %entry ], [ %i1, %w1 ]
  %d = call i64 @ald(ptr %job, i64 3)
  %all = icmp sge i64 %d, %n
  br i1 %all, label %clear, label %w1
w1:
  call void @backoff(ptr %ctrl, i64 %i)
  %i1 = add i64 %i, 1
  br label %wait
clear:
  call void @ast(ptr %ctrl, i64 1, i64 0)
  br label %out
out:
  %j = phi i64 [ 0, %clear ], [ %j1, %w2 ]
  %a = call i64 @ald(ptr %ctrl, i64 4)
  %none = icmp eq i64 %a, 0
  br i1 %none, label %exit, label %w2
w2:
  call void @backoff(ptr %ctrl, i64 %j)
  %j1 = add i64 %j, 1
  br label %out
exit:
  ret void
}}

; wake sleeping helpers ahead of a job: they spin until it comes (or word 12's time has passed)
define void @xrt_team_wake(ptr %ctrl) {{
  %t = call i64 @now_ns(ptr %ctrl)
  %hold = call i64 @ld(ptr %ctrl, i64 12)
  %until = add i64 %t, %hold
  call void @ast(ptr %ctrl, i64 11, i64 %until)
  call void @wake_all(ptr %ctrl)
  ret void
}}

define void @xrt_team_stop(ptr %ctrl) {{
  call void @ast(ptr %ctrl, i64 2, i64 1)
  %g = call i64 @aadd(ptr %ctrl, i64 0, i64 1)
  call void @futex(ptr %ctrl, i64 {FUTEX_WAKE}, i64 2147483647)
  %f = call i64 @aadd(ptr %ctrl, i64 15, i64 1)
  call void @futex_at(ptr %ctrl, i64 15, i64 {FUTEX_WAKE}, i64 2147483647)
  ret void
}}

; the dispatcher: sleep while word 15 is ``seen``
define void @xrt_team_wait(ptr %ctrl, i64 %seen) {{
entry:
  %v = call i64 @ald(ptr %ctrl, i64 15)
  %same = icmp eq i64 %v, %seen
  br i1 %same, label %wait, label %done
wait:
  %val = and i64 %seen, 4294967295
  call void @futex_at(ptr %ctrl, i64 15, i64 {FUTEX_WAIT}, i64 %val)
  br label %done
done:
  ret void
}}
"""
