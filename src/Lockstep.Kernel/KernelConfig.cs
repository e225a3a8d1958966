namespace Lockstep.Kernel;

/// <summary>The kernel configuration of a run (KERNEL-FACTS §4.1, §4.2, §4.4). Every report names it.</summary>
public sealed record KernelConfig(
    string Name,
    bool PREEMPT_RT,
    bool DEBUG_ATOMIC_SLEEP = true,
    bool PROVE_LOCKING = true,
    bool? PREEMPT_RCU = null,
    bool? PROVE_RAW_LOCK_NESTING = null)
{
    /// <summary>!PREEMPT_RT with DEBUG_ATOMIC_SLEEP and lockdep.</summary>
    public static readonly KernelConfig Default = new("default", PREEMPT_RT: false);

    /// <summary>PREEMPT_RT with DEBUG_ATOMIC_SLEEP and lockdep.</summary>
    public static readonly KernelConfig Rt = new("rt", PREEMPT_RT: true);

    /// <summary>PREEMPT_RCU is forced on RT; a typical !RT server kernel does without it.</summary>
    public bool PreemptRcu => PREEMPT_RCU ?? PREEMPT_RT;

    /// <summary>RT kernels are usually built with raw-lock nesting proving; it changes the wait types lockdep prints.</summary>
    public bool ProveRawLockNesting => PROVE_RAW_LOCK_NESTING ?? PREEMPT_RT;

    public string KernelRelease => PREEMPT_RT ? "6.19.0-rc6-rt" : "6.19.0-rc6";

    public string Describe()
        => $"{Name}: PREEMPT_RT={Y(PREEMPT_RT)} DEBUG_ATOMIC_SLEEP={Y(DEBUG_ATOMIC_SLEEP)} PROVE_LOCKING={Y(PROVE_LOCKING)} PREEMPT_RCU={Y(PreemptRcu)}";

    private static string Y(bool b) => b ? "y" : "n";

    public static KernelConfig Parse(string name) => name switch
    {
        "default" => Default,
        "rt" => Rt,
        _ => throw new ArgumentException($"unknown kernel config '{name}' (known: default, rt)"),
    };
}
