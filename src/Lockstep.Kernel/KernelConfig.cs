namespace Lockstep.Kernel;

/// <summary>A mainline release the model knows, v6.12 to v6.19 (the trees KERNEL-FACTS §8 was read against).</summary>
public readonly record struct KernelVersion(int Major, int Minor) : IComparable<KernelVersion>
{
    public static readonly KernelVersion Oldest = new(6, 12);
    public static readonly KernelVersion Newest = new(6, 19);

    public int CompareTo(KernelVersion other) => (Major, Minor).CompareTo((other.Major, other.Minor));

    public static bool operator <(KernelVersion a, KernelVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(KernelVersion a, KernelVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(KernelVersion a, KernelVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(KernelVersion a, KernelVersion b) => a.CompareTo(b) >= 0;

    public override string ToString() => $"{Major}.{Minor}";

    /// <exception cref="ArgumentException">Not "6.12" .. "6.19".</exception>
    public static KernelVersion Parse(string s)
    {
        var parts = s.Split('.');
        if (parts.Length == 2 && int.TryParse(parts[0], out var major) && int.TryParse(parts[1], out var minor))
        {
            var v = new KernelVersion(major, minor);
            if (v >= Oldest && v <= Newest) return v;
        }
        throw new ArgumentException($"unknown kernel version '{s}' (known: {Oldest} .. {Newest})");
    }
}

/// <summary>
/// The kernel configuration of a run (KERNEL-FACTS §4.1, §4.2, §4.4, §8), including the release whose behaviour it has.
/// Every report names it.
/// </summary>
public sealed record KernelConfig(
    string Name,
    bool PREEMPT_RT,
    bool DEBUG_ATOMIC_SLEEP = true,
    bool PROVE_LOCKING = true,
    bool? PREEMPT_RCU = null,
    bool? PROVE_RAW_LOCK_NESTING = null)
{
    /// <summary>!PREEMPT_RT with DEBUG_ATOMIC_SLEEP and lockdep, newest release.</summary>
    public static readonly KernelConfig Default = new("default", PREEMPT_RT: false);

    /// <summary>PREEMPT_RT with DEBUG_ATOMIC_SLEEP and lockdep, newest release.</summary>
    public static readonly KernelConfig Rt = new("rt", PREEMPT_RT: true);

    /// <summary>The release modelled; the behaviours that changed between v6.12 and v6.19 follow it.</summary>
    public KernelVersion Version { get; init; } = KernelVersion.Newest;

    /// <summary>PREEMPT_RCU is forced on RT; a typical !RT server kernel does without it.</summary>
    public bool PreemptRcu => PREEMPT_RCU ?? PREEMPT_RT;

    /// <summary>
    /// lib/Kconfig.debug: since v6.13 (560af5dc839e "lockdep: Enable PROVE_RAW_LOCK_NESTING with PROVE_LOCKING", later
    /// "default y if ARCH_SUPPORTS_RT", which x86 and riscv are) every lockdep kernel proves raw-lock nesting, RT or
    /// not. Before, it was a "default n" choice; RT kernels were usually built with it. It changes the wait types
    /// lockdep prints and makes spinlock_t-under-raw_spinlock_t an invalid wait context on !RT too.
    /// </summary>
    public bool ProveRawLockNesting => PROVE_LOCKING && (PROVE_RAW_LOCK_NESTING ?? (PREEMPT_RT || Version >= new KernelVersion(6, 13)));

    public string KernelRelease => $"{Version}.0{(PREEMPT_RT ? "-rt" : "")}";

    public string Describe()
        => $"{Name}: v{Version} PREEMPT_RT={Y(PREEMPT_RT)} DEBUG_ATOMIC_SLEEP={Y(DEBUG_ATOMIC_SLEEP)} PROVE_LOCKING={Y(PROVE_LOCKING)} "
         + $"PREEMPT_RCU={Y(PreemptRcu)} PROVE_RAW_LOCK_NESTING={Y(ProveRawLockNesting)}";

    private static string Y(bool b) => b ? "y" : "n";

    /// <summary>This configuration on release <paramref name="version"/>; its name says the release unless it is the newest.</summary>
    public KernelConfig At(KernelVersion version)
    {
        var baseName = Name.Split('@')[0];
        return this with { Version = version, Name = version == KernelVersion.Newest ? baseName : $"{baseName}@{version}" };
    }

    /// <summary>"default", "rt", or either at a release: "rt@6.12".</summary>
    /// <exception cref="ArgumentException">An unknown name or release.</exception>
    public static KernelConfig Parse(string name)
    {
        var at = name.IndexOf('@');
        var config = (at < 0 ? name : name[..at]) switch
        {
            "default" => Default,
            "rt" => Rt,
            _ => throw new ArgumentException($"unknown kernel config '{name}' (known: default, rt, and either at a release, e.g. rt@{KernelVersion.Oldest})"),
        };
        return at < 0 ? config : config.At(KernelVersion.Parse(name[(at + 1)..]));
    }
}
