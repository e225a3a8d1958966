using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;

namespace Lockstep.Models.Scenarios;

/// <summary>A task of a scenario: comm, pid, what it runs, and the liveness property its hang violates (besides S4).</summary>
public sealed record TaskSpec(string Comm, int Pid, Func<World, SimTask> Body, string? Liveness = null)
{
    /// <summary>A thread of the VMM process: current->mm is the VMM's mm (else a kernel thread, current->mm NULL).</summary>
    public bool InVmm { get; init; }

    /// <summary>The task runs vCPU Index of VM Vm (the world creates the vCPUs its tasks run).</summary>
    public (int Vm, int Index)? Vcpu { get; init; }
}

/// <summary>
/// A scenario: a world and the tasks that race in it. Declared with <see cref="WorldSpec.Builder"/> and the task
/// factories of <see cref="Tasks"/>, then registered like any extension.
/// </summary>
public sealed record Scenario(string Id, string Description, WorldSpec World, IReadOnlyList<TaskSpec> Tasks)
{
    /// <summary>comm → the liveness property a hang of that task violates.</summary>
    public IReadOnlyDictionary<string, string> Liveness { get; } =
        Tasks.Where(t => t.Liveness != null).ToDictionary(t => t.Comm, t => t.Liveness!);

    /// <summary>How many vCPUs each VM of the world needs: one more than the highest index a task runs.</summary>
    /// <exception cref="ArgumentException">A task runs a vCPU of a VM the world does not have.</exception>
    public IReadOnlyList<int> Vcpus { get; } = VcpusPerVm(World, Tasks);

    private static IReadOnlyList<int> VcpusPerVm(WorldSpec world, IReadOnlyList<TaskSpec> tasks)
    {
        if (tasks.FirstOrDefault(t => t.Vcpu?.Vm >= world.Vms.Count) is { } stray)
            throw new ArgumentException($"task {stray.Comm} runs a vCPU of VM {stray.Vcpu!.Value.Vm}, but the world has {world.Vms.Count} VM(s)");
        return Enumerable.Range(0, world.Vms.Count)
            .Select(vm => tasks.Where(t => t.Vcpu?.Vm == vm).Select(t => t.Vcpu!.Value.Index + 1).DefaultIfEmpty(0).Max()).ToList();
    }

    /// <summary>The whole model: create the world with the proposal's code, run the tasks, join them, then check quiescence.</summary>
    public Func<SimTask> Model(Kernel.Kernel kernel, Proposal proposal) => kernel.Boot(async () =>
    {
        var (mm_code, kvm_code) = proposal.Build(kernel);
        var world = await World.Create(kernel, mm_code, kvm_code, Vcpus);
        var tasks = Tasks.Select(t =>
        {
            var task = kernel.kthread_run(() => t.Body(world), t.Comm, t.Pid);
            if (t.InVmm) task.added.Init(Mm.task_mm, world.mm);
            return task;
        }).ToList();
        foreach (var t in tasks) await t.Exited!.Value.Join();
        await Quiescence.Check(world);
    });
}

/// <summary>The tasks scenarios are made of (KERNEL-FACTS §6.4).</summary>
public static class Tasks
{
    /// <summary>The OOM killer ("stress" allocating) kills qemu (§2.1, §2.2).</summary>
    public static TaskSpec OomKiller() => new("stress", 4100, w => w.mm_code.out_of_memory(w.qemu), "L1");

    /// <summary>The oom_reaper kthread reaps the victim (§2.3–§2.6).</summary>
    public static TaskSpec OomReaper() => new("oom_reaper", 53, w => w.mm_code.oom_reaper(victims: 1), "L1");

    /// <summary>
    /// vCPU <paramref name="index"/> of VM <paramref name="vm"/>: faults each gfn in and runs the guest on it (§3.6), the
    /// guest's access going through the vCPU's TLB.
    /// </summary>
    public static TaskSpec Vcpu(int index, IReadOnlyList<long> gfns, int vm = 0) => new($"CPU {index}/KVM", 4993 + index, async w =>
    {
        var vcpu = w.vms[vm].vcpus[index];
        foreach (var gfn in gfns)
            if (await w.kvm_code.mmu.kvm_tdp_page_fault(vcpu.kvm, gfn)) await w.kvm_code.mmu.vcpu_enter_guest(vcpu, gfn);
    }, "L4") { InVmm = true, Vcpu = (vm, index) };

    /// <summary>
    /// vCPU <paramref name="index"/> of VM <paramref name="vm"/> in guest mode: the guest touches each gfn through the
    /// vCPU's TLB, or the SPTE on a TLB miss; a gfn with neither is an EPT violation this task does not handle.
    /// </summary>
    public static TaskSpec Guest(int index, IReadOnlyList<long> gfns, int vm = 0) => new($"CPU {index}/KVM", 4993 + index, async w =>
    {
        var vcpu = w.vms[vm].vcpus[index];
        foreach (var gfn in gfns) await w.kvm_code.mmu.vcpu_enter_guest(vcpu, gfn);
    }, "L4") { InVmm = true, Vcpu = (vm, index) };

    /// <summary>A task of the VMM process itself (pid 4992): a syscall or ioctl of qemu's.</summary>
    public static TaskSpec Qemu(Func<World, SimTask> body, string liveness) => new("qemu", 4992, body, liveness) { InVmm = true };

    /// <summary>A device fault of dmirror <paramref name="index"/> on <paramref name="hva"/> (lib/test_hmm.c).</summary>
    public static TaskSpec DmirrorFault(int index, ulong hva) => new($"dmirror{index}-fault", 5001 + index,
        async w => await w.hmm.dmirror_range_fault(w.dmirrors[index], w.mm, hva));
}

/// <summary>
/// When every task is done (and the deferred work drained): nothing may be left open (S6, L4) in any VM that still
/// exists, every successful start has had its end (S5), and mm_count holds exactly the pins that remain (S7).
/// </summary>
public static class Quiescence
{
    public static async SimTask Check(World w)
    {
        await Kernel.Kernel.wait_for_deferred_work();
        var live = 0;
        foreach (var vm in w.vms)
        {
            var k = vm.kvm;
            if (await k.freed.Read()) continue;
            live++;
            var count = await k.mn_active_invalidate_count.Read();
            if (count != 0)
            {
                var text = $"mn_active_invalidate_count is {count} with no invalidation running: memslot updates hang, gpc refreshes retry forever";
                Sim.Report(KernelLog.Warning("count-leaked", $"WARNING: {text}", "count"));
            }
            var in_progress = await k.mmu_invalidate_in_progress.Read();
            if (in_progress != 0)
            {
                var text = $"mmu_invalidate_in_progress is {in_progress} with no invalidation running: vCPU faults retry forever";
                Sim.Report(KernelLog.Warning("in-progress-leaked", $"WARNING: {text}", "in_progress"));
            }
        }
        await w.mm_code.open_ranges.check_quiescent();                        // S5: every start had its end
        await w.mm_code.lifetimes.mm_count_check(w.mm, pins_held_elsewhere: live);   // S7: each live struct kvm holds its mmgrab
    }
}
