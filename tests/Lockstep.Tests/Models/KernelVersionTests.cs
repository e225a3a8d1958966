using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.arch.x86;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.Api;

namespace Lockstep.Tests.Models;

/// <summary>
/// The KVM behaviours that changed between v6.12 and v6.19 follow KernelConfig.Version (KERNEL-FACTS §8), each both
/// ways. (Raw-lock nesting on !RT since v6.13 is tested with lockdep, LockdepTests.)
/// </summary>
public class KernelVersionTests
{
    /// <summary>The x86 MMU, reporting whether mmu_lock is held where the fault releases its page and where aging runs.</summary>
    private sealed class Probe(KvmMain kvm) : Mmu(kvm)
    {
        private static string Held(kvm k) => current.held_locks.Any(h => ReferenceEquals(h.Instance, k.mmu_lock)) ? "under mmu_lock" : "without mmu_lock";

        protected override SimTask kvm_release_faultin_page(kvm k, page p)
        {
            Sim.Report(new Violation("release", Held(k)));
            return base.kvm_release_faultin_page(k, p);
        }

        public override SimTask<bool> kvm_age_gfn(kvm k, kvm_memory_slot slot, long start, long end)
        {
            Sim.Report(new Violation("aging", Held(k)));
            return base.kvm_age_gfn(k, slot, start, end);
        }
    }

    /// <summary>Where, in every execution of <paramref name="task"/> alone on the thread's world, the probe saw <paramref name="kind"/>.</summary>
    private static IEnumerable<string> Seen(string config, Arch arch, TaskSpec task, string kind)
    {
        var scenario = new Scenario("probe", "test", WorldSpec.GuestRam.On(arch), [task]);
        var proposal = new Proposal("probe", "test", "test") { Mmu = kvm => new Probe(kvm) };
        var r = Explorer.Explore(scenario.Model(new Lockstep.Kernel.Kernel(KernelConfig.Parse(config)), proposal), new DporStrategy(),
            new ExplorationOptions { StopOnFirstViolation = false });
        Assert.True(r.Exhaustive);
        Assert.All(r.Violations, v => Assert.Contains(v.Kind, new[] { "release", "aging" }));
        return r.Violations.Where(v => v.Kind == kind).Select(v => v.Message).Distinct();
    }

    /// <summary>
    /// kvm_tdp_mmu_page_fault's out_unlock: since v6.13 kvm_mmu_finish_page_fault → kvm_release_faultin_page runs
    /// before read_unlock(&amp;kvm->mmu_lock) (arch/x86/kvm/mmu/mmu.c); v6.12 released the pfn after it.
    /// </summary>
    [Theory]
    [InlineData("default@6.12", "without mmu_lock")]
    [InlineData("default@6.13", "under mmu_lock")]
    [InlineData("rt", "under mmu_lock")]
    public void TheFaultReleasesItsPageUnderMmuLockSinceV613(string config, string where)
        => Assert.Equal([where], Seen(config, Arch.x86, Tasks.Vcpu(0, [0]), "release"));

    /// <summary>
    /// Aging (clear_flush_young from kswapd's rmap walk): x86 selects KVM_MMU_NOTIFIER_AGING_LOCKLESS since v6.15, so
    /// kvm_handle_hva_range takes no mmu_lock around kvm_age_gfn; before, and on riscv, it does.
    /// </summary>
    [Theory]
    [InlineData("default@6.14", Arch.x86, "under mmu_lock")]
    [InlineData("default@6.15", Arch.x86, "without mmu_lock")]
    [InlineData("rt", Arch.x86, "without mmu_lock")]
    [InlineData("default", Arch.riscv, "under mmu_lock")]
    public void X86AgesLocklesslySinceV615(string config, Arch arch, string where)
        => Assert.Equal([where], Seen(config, arch, new TaskSpec("kswapd0", 90, async w => await w.mm_code.folio_referenced(w.mm, 0x1000)), "aging"));
    [Theory]
    [InlineData("rt@6.12", "rt@6.12", true, "6.12", "6.12.0-rt")]
    [InlineData("default@6.15", "default@6.15", false, "6.15", "6.15.0")]
    [InlineData("default@6.19", "default", false, "6.19", "6.19.0")]
    [InlineData("rt", "rt", true, "6.19", "6.19.0-rt")]
    public void AConfigNamesItsRelease(string name, string canonical, bool rt, string version, string release)
    {
        var c = KernelConfig.Parse(name);
        Assert.Equal((canonical, rt, version, release), (c.Name, c.PREEMPT_RT, c.Version.ToString(), c.KernelRelease));
        Assert.Equal(c, KernelConfig.Parse(c.Name));   // what a check token carries
    }

    [Theory]
    [InlineData("rt@6.11", "unknown kernel version '6.11' (known: 6.12 .. 6.19)")]
    [InlineData("default@7", "unknown kernel version '7' (known: 6.12 .. 6.19)")]
    [InlineData("debug", "unknown kernel config 'debug' (known: default, rt, and either at a release, e.g. rt@6.12)")]
    public void AnUnknownConfigOrReleaseIsRefusedInOneLine(string name, string message)
        => Assert.Equal(message, Assert.Throws<ArgumentException>(() => KernelConfig.Parse(name)).Message);
}
