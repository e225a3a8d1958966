using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Api;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.MmTests;

/// <summary>
/// Exploration helpers for the mm tests: exhaustive DPOR, every distinct report kept. The execution counts quoted in
/// the tests' comments are those of the DPOR strategy when they were written. Where a test runs the OOM killer and
/// the reaper alone the exploration has one execution: the reaper waits on oom_reaper_list until the killer queues the
/// victim, so the two never race; what those tests check is the context the callbacks run in.
/// </summary>
internal static class MmHarness
{
    public static ExplorationResult Check(KernelConfig config, Func<K, SimTask> model, long maxExecutions = 100_000)
    {
        var k = new K(config);
        return Explorer.Explore(k.Boot(() => model(k)), new DporStrategy(),
            new ExplorationOptions { StopOnFirstViolation = false, MaxExecutions = maxExecutions });
    }

    public static IEnumerable<KernelReport> Reports(ExplorationResult r, string property)
        => r.Violations.OfType<KernelReport>().Where(v => Lockstep.Models.Properties.Of(v.Kind).Contains(property));

    public static KernelReport Report(ExplorationResult r, string kind)
        => r.Violations.OfType<KernelReport>().First(v => v.Kind == kind);

    public static string Describe(ExplorationResult r)
        => $"{r.Executions} executions, exhaustive: {r.Exhaustive}; " + string.Join("; ", r.Violations.Select(v => v is KernelReport kr ? $"{string.Join(",", Lockstep.Models.Properties.Of(kr.Kind))} {kr.Kind}: {kr.Message}" : v.ToString()));
}

/// <summary>
/// What the mm tests start from: one process "qemu" whose mm has one anonymous VMA of <c>pages</c> present pages at
/// 0x1000. No KVM: subscribers are the toys below.
/// </summary>
internal sealed class MmWorld
{
    public required K kernel;
    public required Mm code;
    public required mm_struct mm;
    public required vm_area_struct vma;
    public required task_struct victim;

    public static MmWorld Create(K kernel, Mm? code = null, ulong pages = 2)
    {
        code ??= new Mm(kernel);
        var allocator = new PageAllocator(code);
        var vma = new vm_area_struct(0x1000, 0x1000 + pages, VmFlags.None, anonymous: true, allocator);
        var mm = new mm_struct(code, allocator, [vma]);
        return new MmWorld { kernel = kernel, code = code, mm = mm, vma = vma, victim = new task_struct(code, "qemu", 4992, mm) };
    }

    /// <summary>The toy maps every page present now, declares its mappings to the allocator (S1) and registers.</summary>
    public async SimTask<ToyMmu> Register(ToyMmu toy)
    {
        await code.stale_mappings.add(toy.maps);
        await toy.map_all(vma);
        var ret = await code.mmu_notifier_register(toy.subscription, mm);
        Sim.Assert(ret == 0, $"mmu_notifier_register returned {ret}");
        return toy;
    }

    public TaskStruct Run(string comm, int pid, Func<SimTask> body) => kernel.kthread_run(body, comm, pid);

    /// <summary>The OOM killer ("stress" allocating) kills qemu; the oom_reaper kthread reaps it.</summary>
    public TaskStruct[] OomKillAndReap() => new[]
    {
        Run("stress", 4100, () => code.out_of_memory(victim)),
        Run("oom_reaper", 53, () => code.oom_reaper(victims: 1)),
    };

    /// <summary>kernel/exit.c exit_mm: task->mm = NULL under task_lock, then mmput (the last one runs exit_mmap).</summary>
    public async SimTask exit_mm()
    {
        using var fn = KernelFunction.Enter("exit_mm");
        await spin_lock(victim.alloc_lock);
        await victim.mm.Write(null);
        await spin_unlock(victim.alloc_lock);
        await code.mmput(mm);
    }

    public static async SimTask Join(params TaskStruct[] tasks)
    {
        foreach (var t in tasks) await t.Exited!.Value.Join();
    }
}

public enum LockKind { none, raw_spinlock_t, spinlock_t, mutex, rwlock_t }

internal static class ToyLock
{
    public static KernelLock? New(K k, LockKind kind, string name) => kind switch
    {
        LockKind.raw_spinlock_t => new raw_spinlock_t(k, name),
        LockKind.spinlock_t => new spinlock_t(k, name),
        LockKind.mutex => new mutex(k, name),
        LockKind.rwlock_t => new rwlock_t(k, name),
        _ => null,
    };

    public static SimTask Lock(KernelLock? lk) => lk switch
    {
        null => SimTask.CompletedTask,
        mutex m => mutex_lock(m),
        rwlock_t rw => write_lock(rw),
        _ => spin_lock(lk),
    };

    public static SimTask Unlock(KernelLock? lk) => lk switch
    {
        null => SimTask.CompletedTask,
        mutex m => mutex_unlock(m),
        rwlock_t rw => write_unlock(rw),
        _ => spin_unlock(lk),
    };
}

/// <summary>
/// A toy secondary MMU (a device with its own page table hva → page) subscribed with a classic struct mmu_notifier.
/// Its knobs make it correct (start unmaps the range before returning) or wrong in one specific way. It declares its
/// mappings to the page allocator, so a page freed while it still maps one is S1.
/// </summary>
internal sealed class ToyMmu : mmu_notifier_ops
{
    private readonly mmu_notifier_ops.Op _implements;

    public ToyMmu(K kernel, string name, mmu_notifier_ops.Op implements, LockKind lockKind = LockKind.spinlock_t)
    {
        this.name = name;
        _implements = implements;
        @lock = ToyLock.New(kernel, lockKind, $"&{name}->lock");
        spte = new Shared<ImmutableDictionary<ulong, page>>($"{name}->spte", ImmutableDictionary<ulong, page>.Empty);
        running = new Shared<int>($"{name}->callbacks_in_progress");
        subscription = new mmu_notifier(this, container: this, name: $"{name}->mn");
    }

    public const mmu_notifier_ops.Op StartEnd = Op.invalidate_range_start | Op.invalidate_range_end | Op.release;

    public readonly string name;
    public readonly KernelLock? @lock;
    public readonly mmu_notifier subscription;

    /// <summary>The device page table.</summary>
    public readonly Shared<ImmutableDictionary<ulong, page>> spte;

    /// <summary>Start/end callbacks in progress (only counted with <see cref="track_running"/>: it adds scheduling points).</summary>
    public readonly Shared<int> running;

    public override Op Implements => _implements;

    // knobs
    public bool unmap_in_start = true;
    public bool unmap_in_end;
    public int nonblock_start_returns;
    public bool track_running;

    // what happened (plain bookkeeping for assertions at the end of an execution)
    public readonly List<mmu_notifier_range> starts = new();
    public readonly List<(mmu_notifier_range range, int non_block_count)> ends = new();
    public int releases;

    public async SimTask map_all(vm_area_struct vma)
    {
        var d = ImmutableDictionary<ulong, page>.Empty;
        for (var hva = vma.vm_start; hva < vma.vm_end; hva++)
            if (await vma.ptep(hva).Read() is { } p) d = d.SetItem(hva, p);
        await spte.Write(d);
    }

    /// <summary>The S1 oracle: reads the device page table at the instant the page is freed.</summary>
    public async SimTask<string?> maps(page p)
    {
        foreach (var (hva, q) in await spte.Read())
            if (q == p) return $"{name} spte hva 0x{hva:x} -> {p}";
        return null;
    }

    private async SimTask zap(ulong start, ulong end)
        => await spte.Update(d => d.RemoveRange(d.Keys.Where(h => h >= start && h < end).ToList()));

    public override async SimTask<int> invalidate_range_start(mmu_notifier sub, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter($"{name}_invalidate_range_start");
        starts.Add(range);
        if (!range.mmu_notifier_range_blockable() && nonblock_start_returns != 0) return nonblock_start_returns;
        if (track_running) await running.Update(static n => n + 1);
        await ToyLock.Lock(@lock);
        if (unmap_in_start) await zap(range.start, range.end);
        await ToyLock.Unlock(@lock);
        if (track_running) await running.Update(static n => n - 1);
        return 0;
    }

    public override async SimTask invalidate_range_end(mmu_notifier sub, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter($"{name}_invalidate_range_end");
        ends.Add((range, current.non_block_count));
        await ToyLock.Lock(@lock);
        if (unmap_in_end) await zap(range.start, range.end);
        await ToyLock.Unlock(@lock);
    }

    public override async SimTask release(mmu_notifier sub, mm_struct mm)
    {
        using var fn = KernelFunction.Enter($"{name}_release");
        releases++;
        await ToyLock.Lock(@lock);
        await spte.Write(ImmutableDictionary<ulong, page>.Empty);
        await ToyLock.Unlock(@lock);
    }

    public override async SimTask<int> clear_flush_young(mmu_notifier sub, mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter($"{name}_clear_flush_young");
        await ToyLock.Lock(@lock);
        var young = (await spte.Read()).Keys.Any(h => h >= start && h < end);
        await ToyLock.Unlock(@lock);
        return young ? 1 : 0;
    }

    public override SimTask arch_invalidate_secondary_tlbs(mmu_notifier sub, mm_struct mm, ulong start, ulong end) => SimTask.CompletedTask;
}

/// <summary>
/// A toy device driver using an interval notifier, written like Documentation/mm/hmm.rst: its fault builds the mapping
/// from the CPU page table after mmu_interval_read_begin and installs it under its update lock only if
/// mmu_interval_read_retry says no invalidation collided; its invalidate takes the same lock, calls
/// mmu_interval_set_seq and zaps. A driver with <c>check_retry: false</c> forgets the retry check.
/// </summary>
internal sealed class ToyDevice : mmu_interval_notifier_ops
{
    public const int EFAULT = 14;

    public ToyDevice(K kernel, string name)
    {
        this.name = name;
        update = new mutex(kernel, $"&{name}->update");
        spte = new Shared<ImmutableDictionary<ulong, page>>($"{name}->spte", ImmutableDictionary<ulong, page>.Empty);
        notifier = new mmu_interval_notifier(name, container: this);
    }

    public readonly string name;
    public readonly mutex update;
    public readonly mmu_interval_notifier notifier;
    public readonly Shared<ImmutableDictionary<ulong, page>> spte;

    /// <summary>Returns false for every non-blockable range (as if the update lock were always contended).</summary>
    public bool fail_nonblock;

    /// <summary>Returns false even for blockable ranges (a contract violation).</summary>
    public bool fail_always;

    public readonly List<(mmu_notifier_range range, ulong cur_seq)> invalidations = new();

    /// <summary>The S1 oracle: reads the device page table at the instant the page is freed.</summary>
    public async SimTask<string?> maps(page p)
    {
        foreach (var (hva, q) in await spte.Read())
            if (q == p) return $"{name} device PTE hva 0x{hva:x} -> {p}";
        return null;
    }

    public override async SimTask<bool> invalidate(mmu_interval_notifier sub, mmu_notifier_range range, ulong cur_seq)
    {
        using var fn = KernelFunction.Enter($"{name}_invalidate");
        invalidations.Add((range, cur_seq));
        if (fail_always) return false;
        if (range.mmu_notifier_range_blockable()) await mutex_lock(update);
        else if (fail_nonblock || !await mutex_trylock(update)) return false;
        await Mm.mmu_interval_set_seq(sub, cur_seq);
        await spte.Update(d => d.RemoveRange(d.Keys.Where(h => h >= range.start && h < range.end).ToList()));
        await mutex_unlock(update);
        return true;
    }

    /// <summary>The driver's fault on <paramref name="hva"/>: 0 when mapped, -EFAULT when the CPU page table has nothing there.</summary>
    public async SimTask<int> fault(Mm code, mm_struct mm, ulong hva, bool check_retry)
    {
        using var fn = KernelFunction.Enter($"{name}_fault");
        while (true)
        {
            var seq = await code.mmu_interval_read_begin(notifier);
            await down_read(mm.mmap_lock);   // hmm_range_fault under mmap_read_lock
            var vma = mm.find_vma(hva);
            var p = vma == null ? null : await vma.ptep(hva).Read();
            await up_read(mm.mmap_lock);
            if (p == null) return -EFAULT;
            await mutex_lock(update);
            if (check_retry && await Mm.mmu_interval_read_retry(notifier, seq))
            {
                await mutex_unlock(update);
                continue;   // goto again
            }
            await spte.Update(d => d.SetItem(hva, p));
            await mutex_unlock(update);
            return 0;
        }
    }
}
