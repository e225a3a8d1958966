using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;
using Lockstep.Models.virt.kvm;
using Lockstep.Tests.MmTests;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Tests.MmTests.MmHarness;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Checking;

/// <summary>
/// The checker fidelity items of issue 11 (KERNEL-FACTS §6.1, §8), each both ways: hlist_del_init under a concurrent
/// SRCU walk against hlist_del_init_rcu; S5 in both directions; S7's mm_count balance checked by the suite; and the
/// gpc oracle needing the VM alive.
/// </summary>
public class CheckerFidelityTests
{
    // ---- hlist_del_init vs hlist_del_init_rcu (mm/mmu_notifier.c uses the _rcu variant in unregister, release and put) ----

    /// <summary>
    /// Two subscribers (the list is a, b: the later registration first); munmap's start walks it while a's driver
    /// unregisters a. With hlist_del_init a walk standing on a stops there and b never hears the invalidation: the walk
    /// is reported cut short (S7) and b still maps the pages munmap frees (S1). The kernel's hlist_del_init_rcu keeps
    /// a's next for the walker: clean.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWalkerOnANodeRemovedWithoutRcuSkipsTheRest(bool rcu)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k, rcu ? new Mm(k) : new PlantedUnregister(k, UnregisterMistake.HlistDelInit));
            var b = await w.Register(new ToyMmu(k, "b", ToyMmu.StartEnd));
            var a = await w.Register(new ToyMmu(k, "a", ToyMmu.StartEnd, LockKind.mutex));
            var munmap = w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002));
            var close = w.Run("a-close", 4995, () => w.code.mmu_notifier_unregister(a.subscription, w.mm));
            await MmWorld.Join(munmap, close);
        });
        Assert.True(r.Exhaustive, Describe(r));
        if (rcu)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var cut = Report(r, "hlist-walk-cut-short");
        Assert.StartsWith("BUG: an SRCU walk of subscriptions->list stopped at a->mn: hlist_del_init() cleared its next under the walk, skipping b->mn", cut.Message);
        Assert.Equal(["S7"], Properties.Of(cut.Kind));
        Assert.NotEmpty(Reports(r, "S1"));
    }

    /// <summary>
    /// v2 (oom-enter-call-srcu) detaches each subscriber with hlist_del_init from inside its own SRCU walk of the list:
    /// with two VMs on the mm the walk stops at the first it detaches, so the second is never detached (S7). With one VM
    /// (the built-in worlds) there is nothing after it to skip.
    /// </summary>
    [Theory]
    [InlineData(2, true)]
    [InlineData(1, false)]
    public void V2sOwnWalkIsCutShortByItsHlistDelInit(int vms, bool cut)
    {
        var world = WorldSpec.Builder().Vma(0x1000, 2);
        for (var i = 0; i < vms; i++) world.Vm(vm => vm.Memslot(0, 2, 0x1000));
        var scenario = new Scenario($"two-vms-{vms}", "the OOM killer and the reaper on a mm with VMs", world.Build(), [Tasks.OomKiller(), Tasks.OomReaper()]);
        var r = Run(OomEnterCallSrcu.Proposal, scenario);
        Assert.Equal(cut, r.Exploration.Violations.OfType<KernelReport>().Any(v => v.Kind == "hlist-walk-cut-short"));
    }

    // ---- S5 both ways ----

    /// <summary>A core that forgets the end of a successful start in munmap: the start has no end when all is quiet (S5).</summary>
    private sealed class MunmapWithoutEnd(K kernel) : Mm(kernel)
    {
        public override async SimTask do_munmap(mm_struct mm, ulong start, ulong end)
        {
            using var fn = KernelFunction.Enter();
            await down_write(mm.mmap_lock);
            var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, mm, start, end);
            await mmu_notifier_invalidate_range_start(range);
            /* - mmu_notifier_invalidate_range_end(range); */
            await up_write(mm.mmap_lock);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AStartWithoutItsEndIsAnS5ViolationAtQuiescence(bool ends)
    {
        var proposal = ends ? Mainline.Proposal : new Proposal("munmap-without-end", "test", "test") { Mm = k => new MunmapWithoutEnd(k) };
        var r = Run(proposal, BuiltIn("munmap-vs-fault"));
        if (ends)
        {
            Assert.DoesNotContain(r.Findings, f => f.Property == "S5");
            return;
        }
        var f = Assert.Single(r.Findings, f => f.Property == "S5");
        Assert.Equal("start-without-end", f.Violation.Kind);
        Assert.Equal("WARNING: invalidate_range_start [1000, 1002) of KvmMain never got its invalidate_range_end", f.Violation.Message);
    }

    // ---- S7: mm_count balance, checked by the suite at the end of every scenario ----

    /// <summary>kvm_destroy_vm that forgets the mmdrop of kvm->mm (the kvm_create_vm mmgrab): one pin leaked.</summary>
    private sealed class DestroyWithoutMmdrop(Mm mm) : KvmMain(mm)
    {
        public override async SimTask kvm_destroy_vm(kvm k)
        {
            using var fn = KernelFunction.Enter();
            await mm.mmu_notifier_unregister(k.mmu_notifier, k.mm);
            await kvm_arch_free_vm(k);
            /* - mmdrop(kvm->mm); */
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheSuiteChecksMmCountAtTheEndOfEveryScenario(bool drops)
    {
        var proposal = drops ? Mainline.Proposal : new Proposal("destroy-without-mmdrop", "test", "test") { Kvm = m => new DestroyWithoutMmdrop(m) };
        var r = Run(proposal, BuiltIn("oom-reap-vs-exit"));
        if (drops)
        {
            Assert.Empty(r.Findings);
            return;
        }
        var f = Assert.Single(r.Findings, f => f.Property == "S7");
        Assert.Equal("BUG: mm_struct leaked: 1 mmgrab without mmdrop", f.Violation.Message);
    }

    // ---- the gpc oracle needs the VM alive ----

    /// <summary>
    /// The VM fd is closed (the last kvm_put_kvm: kvm_destroy_vm unregisters, then frees) while qemu, whose mm lives
    /// on, munmaps guest RAM; the gpc on its second page is valid until the VM is freed. Once the VM has no users
    /// nothing can use the cache, so mainline is clean (the oracle used to count it while mm_users &gt; 0 only, a
    /// false S1). A VM that stops listening while it still has users is caught there.
    /// </summary>
    private static readonly Scenario VmCloseVsMunmap = new("vm-close-then-munmap",
        "qemu closes the VM fd while another of its threads munmaps guest RAM (the mm stays alive)",
        WorldSpec.Builder().Vma(0x1000, 2).Vm(vm => vm.Memslot(0, 2, 0x1000).Gpc(0x1001)).Build(),
        [Tasks.Qemu(w => w.kvm_code.kvm_put_kvm(w.kvm), "L5"), new TaskSpec("qemu-munmap", 4996, w => w.mm_code.do_munmap(w.mm, 0x1000, 0x1002), "L5")]);

    /// <summary>A close that only detaches from the mm (unregister) while the VM, and its gpc, stay usable.</summary>
    private sealed class CloseDetachesOnly(Mm mm) : KvmMain(mm)
    {
        public override async SimTask kvm_put_kvm(kvm k)
        {
            using var fn = KernelFunction.Enter();
            await mm.mmu_notifier_unregister(k.mmu_notifier, k.mm);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AGpcCountsOnlyWhileTheVmIsAlive(bool mainline)
    {
        var proposal = mainline ? Mainline.Proposal : new Proposal("close-detaches-only", "test", "test") { Kvm = m => new CloseDetachesOnly(m) };
        var r = Run(proposal, VmCloseVsMunmap);
        Assert.True(r.Exploration.Exhaustive);
        if (mainline)
        {
            Assert.Empty(r.Findings);
            return;
        }
        var f = Assert.Single(r.Findings, f => f.Property == "S1");
        Assert.Contains("still mapped by: kvm gfn_to_pfn_cache uhva 0x1001", ((KernelReport)f.Violation).Text);
    }

    private static Scenario BuiltIn(string id) => Registry.WithBuiltIns().Scenario(id);

    private static ScenarioRun Run(Proposal proposal, Scenario scenario)
    {
        var registry = Registry.WithBuiltIns();
        if (!registry.Proposals.Contains(proposal)) registry.Register(proposal);
        if (!registry.Scenarios.Contains(scenario)) registry.Register(scenario);
        return Suite.Run(registry, proposal, KernelConfig.Default, scenario, new DporStrategy(), new ExplorationOptions { MaxExecutions = 200_000, Shrink = false });
    }
}
