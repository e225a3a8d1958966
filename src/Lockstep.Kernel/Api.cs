using System.Runtime.CompilerServices;
using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// The kernel API as model code calls it: <c>using static Lockstep.Kernel.Api;</c> then
/// <c>await spin_lock(kvm.mn_invalidate_lock);</c>. Lock and check semantics follow KERNEL-FACTS §4.
/// </summary>
public static class Api
{
    public const int SOFTIRQ_DISABLE_OFFSET = 0x200;
    private const int MIGHT_RESCHED_RCU_SHIFT = 8;
    private const int MIGHT_RESCHED_PREEMPT_MASK = (1 << MIGHT_RESCHED_RCU_SHIFT) - 1;

    /// <summary>The running task.</summary>
    public static TaskStruct current => (TaskStruct)(Sim.CurrentThread.Tag ?? throw new InvalidOperationException("the running thread is not a kernel task"));

    private static KernelConfig Config => current.Kernel.Config;

    private static Lockdep lockdep => current.Kernel.Lockdep;

    private static string Caller(TaskStruct t) => t.stack.Count > 0 ? t.stack[^1] : t.comm;

    // ---- preemption, IRQs, non_block (§4.2, §4.3) ----

    public static void preempt_disable() => current.preempt_count++;

    public static void preempt_enable() => current.preempt_count--;

    public static void local_irq_disable() => current.irqs_disabled = true;

    public static void local_irq_enable() => current.irqs_disabled = false;

    /// <summary>On !RT adds SOFTIRQ_DISABLE_OFFSET to the preempt count; on RT it is a per-CPU local lock (no atomic context).</summary>
    public static void local_bh_disable()
    {
        current.softirq_disable_cnt++;
        if (!Config.PREEMPT_RT) current.preempt_count += SOFTIRQ_DISABLE_OFFSET;
    }

    public static void local_bh_enable()
    {
        current.softirq_disable_cnt--;
        if (!Config.PREEMPT_RT) current.preempt_count -= SOFTIRQ_DISABLE_OFFSET;
    }

    public static void non_block_start() => current.non_block_count++;

    public static void non_block_end()
    {
        var t = current;
        if (t.non_block_count == 0)
        {
            Sim.Report(KernelLog.Warning("S2", "non-block-underflow", "WARNING: non_block_end() without non_block_start()", "non_block_end"));
            return;
        }
        t.non_block_count--;
    }

    public static void migrate_disable() => current.migration_disabled++;

    public static void migrate_enable() => current.migration_disabled--;

    // ---- might_sleep (§4.2) ----

    public static void might_sleep([CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        => __might_resched(KernelSource(file), line, 0, "__might_sleep");

    /// <summary>
    /// kernel/sched/core.c __might_resched: silent iff preempt_count + (rcu depth &lt;&lt; 8) == offsets, IRQs on and
    /// non_block_count == 0; else the splat of §4.2 (property S2).
    /// </summary>
    public static void __might_resched(string file, int line, int offsets, params string[] innermost)
    {
        var t = current;
        if (!Config.DEBUG_ATOMIC_SLEEP) return;
        var rcuDepth = Config.PreemptRcu ? t.rcu_read_lock_nesting : 0;
        if (t.preempt_count + (rcuDepth << MIGHT_RESCHED_RCU_SHIFT) == offsets && !t.irqs_disabled && t.non_block_count == 0)
            return;
        var sb = new StringBuilder();
        sb.AppendLine($"BUG: sleeping function called from invalid context at {file}:{line}");
        sb.AppendLine($"in_atomic(): {(t.in_atomic() ? 1 : 0)}, irqs_disabled(): {(t.irqs_disabled ? 1 : 0)}, non_block: {t.non_block_count}, pid: {t.pid}, name: {t.comm}");
        sb.AppendLine($"preempt_count: {t.preempt_count:x}, expected: {offsets & MIGHT_RESCHED_PREEMPT_MASK:x}");
        if (Config.PreemptRcu)
            sb.AppendLine($"RCU nest depth: {rcuDepth}, expected: {offsets >> MIGHT_RESCHED_RCU_SHIFT}");
        if (Config.PROVE_LOCKING) t.Kernel.Lockdep.HeldLocks(sb, t);
        sb.AppendLine(KernelLog.Banner(t));
        var frames = new List<string> { "__might_resched" };
        frames.AddRange(innermost);
        KernelLog.CallTrace(sb, t, frames.ToArray());
        Kernel.State.TaintWarn = true;
        var culprit = innermost.Length > 0 ? innermost[^1] : "might_sleep";
        Sim.Report(new KernelReport("S2", "might-sleep", $"BUG: sleeping function called from invalid context at {file}:{line}",
            sb.ToString(), t.ToString(), $"{culprit} in {Caller(t)}", Config));
    }

    /// <summary>schedule_debug: a voluntary sleep in atomic or non-blocking context (§4.3).</summary>
    private static void schedule_debug()
    {
        var t = current;
        if (t.in_atomic())
            ScheduleBug($"BUG: scheduling while atomic: {t.comm}/{t.pid}/0x{t.preempt_count:x8}", "scheduling-while-atomic");
        else if (t.non_block_count != 0 && Config.DEBUG_ATOMIC_SLEEP)
            ScheduleBug($"BUG: scheduling in a non-blocking section: {t.comm}/{t.pid}/{t.non_block_count}", "scheduling-in-non-block");
    }

    private static void ScheduleBug(string headline, string kind)
    {
        var t = current;
        var sb = new StringBuilder();
        sb.AppendLine(headline);
        if (Config.PROVE_LOCKING) t.Kernel.Lockdep.HeldLocks(sb, t);
        sb.AppendLine(KernelLog.Banner(t));
        KernelLog.CallTrace(sb, t, "__schedule_bug", "__schedule", "schedule");
        Kernel.State.TaintWarn = true;
        Sim.Report(new KernelReport("S2", kind, headline, sb.ToString(), t.ToString(), Caller(t), Config));
    }

    private static string KernelSource(string path)
    {
        var i = path.Replace('\\', '/').LastIndexOf("/src/Lockstep.", StringComparison.Ordinal);
        return i < 0 ? Path.GetFileName(path) : path[(i + 5)..];
    }

    // ---- task state and sleeping (§4.6) ----

    public static Op<int> set_current_state(int state) => current.__state.Write(state);

    public static Op<int> __set_current_state(int state) => current.__state.Write(state);

    /// <summary>Sleeps until the task state is TASK_RUNNING again (a wakeup that came first makes it return at once).</summary>
    public static async SimTask schedule()
    {
        schedule_debug();
        await current.__state.WaitUntil(static s => s == TaskState.TASK_RUNNING);
    }

    /// <summary>A timed sleep: the model has no clock, so time passing is a yield to everyone else.</summary>
    public static async SimTask schedule_timeout_idle(int ticks)
    {
        schedule_debug();
        await Sim.Yield();
    }

    public static async SimTask<bool> wake_up_process(TaskStruct p)
        => await p.__state.Update(static _ => TaskState.TASK_RUNNING) != TaskState.TASK_RUNNING;

    // ---- raw_spinlock_t ----

    public static async SimTask raw_spin_lock(raw_spinlock_t lk, [CallerMemberName] string site = "")
    {
        preempt_disable();
        lockdep.Acquire(current, lk.Class, lk, 0, false, site);
        Note($"raw_spin_lock({lk.Name})");
        await lk.LockExclusive();
    }

    public static async SimTask raw_spin_unlock(raw_spinlock_t lk, [CallerMemberName] string site = "")
    {
        lockdep.Release(current, lk.Class, lk, site);
        Note($"raw_spin_unlock({lk.Name})");
        await lk.UnlockExclusive();
        preempt_enable();
    }

    public static async SimTask<bool> raw_spin_trylock(raw_spinlock_t lk, [CallerMemberName] string site = "")
    {
        preempt_disable();
        if (await lk.TryLockExclusive() != 0)
        {
            preempt_enable();
            return false;
        }
        lockdep.Acquire(current, lk.Class, lk, 0, true, site);
        return true;
    }

    // ---- spinlock_t (rt_spin_lock on PREEMPT_RT) ----

    /// <summary>spin_lock on a lock declared either way: a patch that turns a spinlock_t into a raw_spinlock_t changes only the declaration.</summary>
    public static SimTask spin_lock(KernelLock lk, [CallerMemberName] string site = "")
        => lk is raw_spinlock_t raw ? raw_spin_lock(raw, site) : SpinLockCommon((spinlock_t)lk, site, irq: false);

    public static SimTask spin_unlock(KernelLock lk, [CallerMemberName] string site = "")
        => lk is raw_spinlock_t raw ? raw_spin_unlock(raw, site) : SpinUnlockCommon((spinlock_t)lk, site, irq: false);

    /// <summary>KVM_MMU_LOCK: write_lock on an rwlock_t mmu_lock (x86, arm64), spin_lock otherwise (virt/kvm/kvm_mm.h).</summary>
    public static SimTask KVM_MMU_LOCK(KernelLock mmu_lock, [CallerMemberName] string site = "")
        => mmu_lock is rwlock_t rw ? write_lock(rw, site) : spin_lock(mmu_lock, site);

    public static SimTask KVM_MMU_UNLOCK(KernelLock mmu_lock, [CallerMemberName] string site = "")
        => mmu_lock is rwlock_t rw ? write_unlock(rw, site) : spin_unlock(mmu_lock, site);

    public static SimTask spin_lock_irq(spinlock_t lk, [CallerMemberName] string site = "")
        => SpinLockCommon(lk, site, irq: true);

    public static SimTask spin_unlock_irq(spinlock_t lk, [CallerMemberName] string site = "")
        => SpinUnlockCommon(lk, site, irq: true);

    private static SimTask SpinLockCommon(spinlock_t lk, string site, bool irq)
        => ConfigLock(lk, $"spin_lock{(irq ? "_irq" : "")}", read: 0, irq, 48, "rt_spin_lock", site);

    private static SimTask SpinUnlockCommon(spinlock_t lk, string site, bool irq)
        => ConfigUnlock(lk, $"spin_unlock{(irq ? "_irq" : "")}", shared: false, irq, site);

    private static SimTask RwLockCommon(rwlock_t lk, string site, bool write, bool irq)
        => write ? ConfigLock(lk, $"write_lock{(irq ? "_irq" : "")}", read: 0, irq, 241, "rt_write_lock", site)   // Sean's splat: spinlock_rt.c:241
                 : ConfigLock(lk, $"read_lock{(irq ? "_irq" : "")}", read: 1, irq, 225, "rt_read_lock", site);

    private static SimTask RwUnlockCommon(rwlock_t lk, string site, bool write, bool irq)
        => ConfigUnlock(lk, $"{(write ? "write" : "read")}_unlock{(irq ? "_irq" : "")}", shared: !write, irq, site);

    /// <summary>
    /// spinlock_t and rwlock_t (lockdep's LD_WAIT_CONFIG locks). !RT: IRQs off for _irq, preempt_disable, lockdep, spin.
    /// RT (kernel/locking/spinlock_rt.c): lockdep, rtlock_might_resched, block on the rtmutex, then rcu_read_lock and
    /// migrate_disable; _irq does not disable IRQs.
    /// </summary>
    private static async SimTask ConfigLock(KernelLock lk, string function, int read, bool irq, int rtLine, string rtFunction, string site)
    {
        var t = current;
        Note($"{function}({lk.Name})");
        if (Config.PREEMPT_RT)
        {
            lockdep.Acquire(t, lk.Class, lk, read, false, site);
            rtlock_might_resched("kernel/locking/spinlock_rt.c", rtLine, rtFunction);
            await (read == 0 ? lk.LockExclusive() : lk.LockShared());
            rcu_read_lock();
            migrate_disable();
        }
        else
        {
            if (irq) local_irq_disable();
            preempt_disable();
            lockdep.Acquire(t, lk.Class, lk, read, false, site);
            await (read == 0 ? lk.LockExclusive() : lk.LockShared());
        }
    }

    private static async SimTask ConfigUnlock(KernelLock lk, string function, bool shared, bool irq, string site)
    {
        lockdep.Release(current, lk.Class, lk, site);
        Note($"{function}({lk.Name})");
        await (shared ? lk.UnlockShared() : lk.UnlockExclusive());
        if (Config.PREEMPT_RT)
        {
            migrate_enable();
            rcu_read_unlock();
        }
        else
        {
            preempt_enable();
            if (irq) local_irq_enable();
        }
    }

    /// <summary>rtlock_might_resched: __might_resched with the RCU nesting of the RT locks already held as allowance.</summary>
    private static void rtlock_might_resched(string file, int line, string function)
    {
        var depth = Config.PreemptRcu ? current.rcu_read_lock_nesting : 0;
        __might_resched(file, line, depth << MIGHT_RESCHED_RCU_SHIFT, function);
    }

    // ---- rwlock_t (rwbase_rt on PREEMPT_RT) ----

    public static SimTask read_lock(rwlock_t lk, [CallerMemberName] string site = "") => RwLockCommon(lk, site, write: false, irq: false);

    public static SimTask write_lock(rwlock_t lk, [CallerMemberName] string site = "") => RwLockCommon(lk, site, write: true, irq: false);

    public static SimTask read_lock_irq(rwlock_t lk, [CallerMemberName] string site = "") => RwLockCommon(lk, site, write: false, irq: true);

    public static SimTask write_lock_irq(rwlock_t lk, [CallerMemberName] string site = "") => RwLockCommon(lk, site, write: true, irq: true);

    public static SimTask read_unlock(rwlock_t lk, [CallerMemberName] string site = "") => RwUnlockCommon(lk, site, write: false, irq: false);

    public static SimTask write_unlock(rwlock_t lk, [CallerMemberName] string site = "") => RwUnlockCommon(lk, site, write: true, irq: false);

    public static SimTask read_unlock_irq(rwlock_t lk, [CallerMemberName] string site = "") => RwUnlockCommon(lk, site, write: false, irq: true);

    public static SimTask write_unlock_irq(rwlock_t lk, [CallerMemberName] string site = "") => RwUnlockCommon(lk, site, write: true, irq: true);

    // ---- mutex, rw_semaphore ----

    public static SimTask mutex_lock(mutex lk, [CallerMemberName] string site = "")
        => SleepingLock(lk, "kernel/locking/mutex.c", 283, "mutex_lock", read: 0, site);

    public static SimTask mutex_unlock(mutex lk, [CallerMemberName] string site = "")
        => SleepingUnlock(lk, "mutex_unlock", shared: false, site);

    public static async SimTask<bool> mutex_trylock(mutex lk, [CallerMemberName] string site = "")
    {
        if (await lk.TryLockExclusive() != 0) return false;
        lockdep.Acquire(current, lk.Class, lk, 0, true, site);
        return true;
    }

    public static SimTask down_read(rw_semaphore sem, [CallerMemberName] string site = "")
        => SleepingLock(sem, "kernel/locking/rwsem.c", 1524, "down_read", read: 1, site);

    public static async SimTask<bool> down_read_trylock(rw_semaphore sem, [CallerMemberName] string site = "")
    {
        Note($"down_read_trylock({sem.Name})");
        if (await sem.TryLockShared() < 0) return false;
        lockdep.Acquire(current, sem.Class, sem, 1, true, site);
        return true;
    }

    public static SimTask up_read(rw_semaphore sem, [CallerMemberName] string site = "")
        => SleepingUnlock(sem, "up_read", shared: true, site);

    public static SimTask down_write(rw_semaphore sem, [CallerMemberName] string site = "")
        => SleepingLock(sem, "kernel/locking/rwsem.c", 1577, "down_write", read: 0, site);

    public static SimTask up_write(rw_semaphore sem, [CallerMemberName] string site = "")
        => SleepingUnlock(sem, "up_write", shared: false, site);

    /// <summary>A sleeping lock on every kernel: might_sleep at the function's site, lockdep, then block until it is free.</summary>
    private static async SimTask SleepingLock(KernelLock lk, string file, int line, string function, int read, string site)
    {
        __might_resched(file, line, 0, "__might_sleep", function);
        lockdep.Acquire(current, lk.Class, lk, read, false, site);
        Note($"{function}({lk.Name})");
        await (read == 0 ? lk.LockExclusive() : lk.LockShared());
    }

    private static async SimTask SleepingUnlock(KernelLock lk, string function, bool shared, string site)
    {
        lockdep.Release(current, lk.Class, lk, site);
        Note($"{function}({lk.Name})");
        await (shared ? lk.UnlockShared() : lk.UnlockExclusive());
    }

    // ---- lockdep maps (pseudo-locks) ----

    public static void lock_map_acquire(LockdepMap map, [CallerMemberName] string site = "")
        => lockdep.Acquire(current, map.Class, map, 0, false, site);

    public static void lock_map_acquire_read(LockdepMap map, [CallerMemberName] string site = "")
        => lockdep.Acquire(current, map.Class, map, 2, false, site);

    public static void lock_map_release(LockdepMap map, [CallerMemberName] string site = "")
        => lockdep.Release(current, map.Class, map, site);

    /// <summary>lock_sync: an exclusive acquisition that is validated and released at once (§4.5).</summary>
    public static void lock_map_sync(LockdepMap map, [CallerMemberName] string site = "")
        => lockdep.Acquire(current, map.Class, map, 0, false, site, sync: true);

    public static void lockdep_assert_held(KernelLock lk)
    {
        if (current.Kernel.Config.PROVE_LOCKING && !current.held_locks.Any(h => ReferenceEquals(h.Instance, lk)))
            Sim.Report(KernelLog.Warning("S3", "assert-held", $"WARNING: lockdep_assert_held({lk.Name}) failed", lk.Name));
    }

    // ---- RCU ----

    /// <summary>With PREEMPT_RCU a nesting count; without it, preempt_disable (§4.1). Not a scheduling point.</summary>
    public static void rcu_read_lock()
    {
        if (Config.PreemptRcu) current.rcu_read_lock_nesting++;
        else preempt_disable();
    }

    public static void rcu_read_unlock()
    {
        if (Config.PreemptRcu) current.rcu_read_lock_nesting--;
        else preempt_enable();
    }

    /// <summary>A grace period: might_sleep, then time passes. Model readers never block, so no one is waited for.</summary>
    public static async SimTask synchronize_rcu()
    {
        using var fn = KernelFunction.Enter();
        might_sleep();
        await Sim.Yield();
    }

    internal static void Note(string text)
    {
        if (Sim.Tracing) Sim.Note($"{new string(' ', 2 * current.stack.Count)}{text}");
    }
}
