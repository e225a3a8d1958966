using System.Runtime.CompilerServices;
using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>kernel/rcu: rcu_read_lock and synchronize_rcu (KERNEL-FACTS §4.1, §4.5).</summary>
public static partial class Api
{
    // ---- RCU ----

    /// <summary>With PREEMPT_RCU a nesting count; without it, preempt_disable (§4.1). Not a scheduling point.</summary>
    public static void rcu_read_lock()
    {
        var t = current;
        RcuReadLock(t);
        if (t.Tracing) Context(t, "rcu_read_lock", ContextSection.Rcu, opens: true, RcuDepth(t));
    }

    public static void rcu_read_unlock()
    {
        var t = current;
        RcuReadUnlock(t);
        if (t.Tracing) Context(t, "rcu_read_unlock", ContextSection.Rcu, opens: false, RcuDepth(t));
    }

    private static void RcuReadLock(TaskStruct t)
    {
        if (t.Kernel.Config.PreemptRcu) t.rcu_read_lock_nesting++;
        else t.preempt_count++;
    }

    private static void RcuReadUnlock(TaskStruct t)
    {
        if (t.Kernel.Config.PreemptRcu) t.rcu_read_lock_nesting--;
        else t.preempt_count--;
    }

    /// <summary>The RCU read-side nesting: rcu_read_lock_nesting with PREEMPT_RCU, else the preemption count it raised.</summary>
    private static int RcuDepth(TaskStruct t) => t.Kernel.Config.PreemptRcu ? t.rcu_read_lock_nesting : t.preempt_count & 0xff;

    /// <summary>A grace period: might_sleep, then time passes. Model readers never block, so no one is waited for.</summary>
    public static async SimTask synchronize_rcu()
    {
        using var fn = KernelFunction.Enter();
        might_sleep();
        await Sim.Yield();
    }
}
