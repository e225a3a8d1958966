using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>The OOM victim as mm/oom_kill.c sees it: a process with an mm, task_lock and signal state.</summary>
public sealed class task_struct
{
    public task_struct(Mm code, string comm, int pid, mm_struct mm)
    {
        this.comm = comm;
        this.pid = pid;
        this.mm = new Shared<mm_struct?>($"{comm}.mm", mm);
        alloc_lock = code.task_struct_alloc_lock.Init(code.kernel, "&p->alloc_lock");
        siglock = code.sighand_struct_siglock.Init(code.kernel, "&sighand->siglock");
    }

    public readonly string comm;
    public readonly int pid;
    public readonly Shared<mm_struct?> mm;
    public readonly KernelLock alloc_lock;
    public readonly KernelLock siglock;
    public readonly Shared<bool> sigkill_pending = new("SIGKILL pending");

    /// <summary>tsk->signal->oom_mm: set once by cmpxchg in mark_oom_victim.</summary>
    public readonly Shared<mm_struct?> signal_oom_mm = new("signal->oom_mm");

    /// <summary>The TIF_MEMDIE thread flag (test_and_set_tsk_thread_flag).</summary>
    public readonly Shared<bool> TIF_MEMDIE = new("TIF_MEMDIE");
}

/// <summary>mm/oom_kill.c (KERNEL-FACTS §2.1–§2.6), and the process_mrelease syscall.</summary>
public partial class Mm
{
    public const int MAX_OOM_REAP_RETRIES = 10;
    public const int HZ = 100;

    public readonly KernelLock oom_lock;
    public readonly Shared<ImmutableQueue<mm_struct>> oom_reaper_list;

    /// <summary>Victims whose reaping finished (L1 is checked against it).</summary>
    public readonly Shared<int> reaped = new("oom_reaper.reaped");

    /// <summary>out_of_memory: under oom_lock, select the victim and kill it (§2.1).</summary>
    public virtual async SimTask out_of_memory(task_struct victim)
    {
        using var fn = KernelFunction.Enter();
        await mutex_lock(oom_lock);
        await oom_kill_process(victim, "Out of memory");
        await mutex_unlock(oom_lock);
    }

    public virtual async SimTask oom_kill_process(task_struct victim, string message)
    {
        using var fn = KernelFunction.Enter();
        await __oom_kill_process(victim, message);
    }

    /// <summary>§2.2, in its exact order: task_lock is held through steps 1–8.</summary>
    public virtual async SimTask __oom_kill_process(task_struct victim, string message)
    {
        using var fn = KernelFunction.Enter();
        var p = await find_lock_task_mm(victim);                    // 1. task_lock(p) held
        if (p == null) return;
        victim = p;                                                 // 2.
        var mm = (await victim.mm.Read())!;                          // 3.
        await mmgrab(mm);
        await count_oom_kill_events(mm);                            // 4.
        await do_send_sig_info_SIGKILL(victim);                     // 5.
        await mark_oom_victim(victim, mm);                          // 6.
        Sim.Note($"Killed process {victim.pid} ({victim.comm})");   // 7. pr_err
        await task_unlock(victim);                                  // 8.
        await queue_oom_reaper(victim, mm);                         // 10. (9: no other process shares mm)
        await mmdrop(mm);                                           // 11.
    }

    /// <summary>
    /// "Raise event before sending signal: task reaper must see this": count_vm_event(OOM_KILL) and
    /// memcg_memory_event_mm(mm, MEMCG_OOM_KILL). The model keeps no event counters; a patch that adds a statement
    /// between mmgrab and these events overrides this and calls the base after its own code.
    /// </summary>
    protected virtual SimTask count_oom_kill_events(mm_struct mm) => SimTask.CompletedTask;

    public virtual async SimTask<task_struct?> find_lock_task_mm(task_struct p)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(p.alloc_lock);
        if (await p.mm.Read() != null) return p;
        await spin_unlock(p.alloc_lock);
        return null;
    }

    public virtual async SimTask task_unlock(task_struct p) => await spin_unlock(p.alloc_lock);

    public virtual async SimTask do_send_sig_info_SIGKILL(task_struct p)
    {
        using var fn = KernelFunction.Enter("do_send_sig_info");
        await spin_lock(p.siglock);
        await p.sigkill_pending.Write(true);
        await spin_unlock(p.siglock);
    }

    protected virtual async SimTask mark_oom_victim(task_struct tsk, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (await tsk.TIF_MEMDIE.Update(static _ => true)) return;   // test_and_set_tsk_thread_flag
        if (await tsk.signal_oom_mm.CompareExchange(null, mm) == null)   // !cmpxchg(&tsk->signal->oom_mm, NULL, mm)
        {
            await mmgrab(mm);   // lives as long as the signal struct
            await lifetimes.oom_mm_pinned(mm);
        }
    }

    /// <summary>§2.3: queue the mm once (MMF_OOM_REAP_QUEUED); the 2 s timer is a delay the model does not need.</summary>
    public virtual async SimTask queue_oom_reaper(task_struct tsk, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if ((await mm.flags.Update(static f => f | MmFlags.MMF_OOM_REAP_QUEUED) & MmFlags.MMF_OOM_REAP_QUEUED) != 0) return;
        await oom_reaper_list.Update(q => q.Enqueue(mm));
    }

    /// <summary>The oom_reaper kthread: one victim at a time; the model's reaper stops after <paramref name="victims"/>.</summary>
    public virtual async SimTask oom_reaper(int victims)
    {
        using var fn = KernelFunction.Enter();
        for (var i = 0; i < victims; i++)
        {
            var list = await oom_reaper_list.WaitUntil(static q => !q.IsEmpty);
            await oom_reaper_list.Update(static q => q.Dequeue());
            await oom_reap_task(list.Peek());
        }
    }

    /// <summary>§2.4: up to 10 attempts with 100 ms sleeps, then MMF_OOM_SKIP in every case.</summary>
    public virtual async SimTask oom_reap_task(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var attempts = 0;
        while (attempts++ < MAX_OOM_REAP_RETRIES && !await oom_reap_task_mm(mm))
            await schedule_timeout_idle(HZ / 10);
        if (attempts <= MAX_OOM_REAP_RETRIES || (await mm.flags.Read() & MmFlags.MMF_OOM_SKIP) != 0)
        {
            /* done */
        }
        else Sim.Note("oom_reaper: unable to reap pid");
        await mm.flags.Update(static f => f | MmFlags.MMF_OOM_SKIP);
        await reaped.Update(static n => n + 1);
    }

    /// <summary>§2.5.</summary>
    public virtual async SimTask<bool> oom_reap_task_mm(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (!await down_read_trylock(mm.mmap_lock)) return false;
        var ret = true;
        if ((await mm.flags.Read() & MmFlags.MMF_OOM_SKIP) == 0)
            ret = await __oom_reap_task_mm(mm);
        await up_read(mm.mmap_lock);
        return ret;
    }

    /// <summary>§2.6: per VMA (highest first) a non-blocking start, unmap, end, then the pages are freed.</summary>
    public virtual async SimTask<bool> __oom_reap_task_mm(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var ret = true;
        await mm.flags.Update(static f => f | MmFlags.MMF_UNSTABLE);
        foreach (var vma in Enumerable.Reverse(mm.vmas))
        {
            if ((vma.vm_flags & (VmFlags.VM_HUGETLB | VmFlags.VM_PFNMAP)) != 0) continue;
            if (!vma.vma_is_anonymous() && (vma.vm_flags & VmFlags.VM_SHARED) != 0) continue;
            var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, mm, vma.vm_start, vma.vm_end);
            var tlb = tlb_gather_mmu(mm);
            if (await mmu_notifier_invalidate_range_start_nonblock(range) != 0)
            {
                await tlb_finish_mmu(mm, tlb);
                ret = false;
                Sim.Report(KernelLog.Warning("vma-not-reaped",
                    $"oom_reaper: VMA [{vma.vm_start:x}, {vma.vm_end:x}) skipped: invalidate_range_start_nonblock failed", $"{vma.vm_start:x}"));
                continue;
            }
            await unmap_page_range(tlb, vma, range.start, range.end);
            await mmu_notifier_invalidate_range_end(range);
            await tlb_finish_mmu(mm, tlb);
        }
        return ret;
    }

    /// <summary>
    /// task_will_free_mem: the task is dying and will free its mm by itself — its thread group is exiting
    /// (SIGNAL_GROUP_EXIT, set when the SIGKILL was delivered) and the mm is not already MMF_OOM_SKIP. The model's mm is
    /// not shared with another process (the mm_users &lt;= 1 shortcut). Called with task_lock held.
    /// </summary>
    public virtual async SimTask<bool> task_will_free_mem(task_struct task)
    {
        using var fn = KernelFunction.Enter();
        var mm = await task.mm.Read();
        if (mm == null) return false;
        if (!await task.sigkill_pending.Read()) return false;   // !__task_will_free_mem(task)
        if ((await mm.flags.Read() & MmFlags.MMF_OOM_SKIP) != 0) return false;
        return true;
    }

    /// <summary>
    /// SYSCALL process_mrelease(pidfd, flags) (§2.6 other caller): reap a SIGKILLed process's memory from userspace
    /// (e.g. lmkd) with the same non-blocking __oom_reap_task_mm as the reaper, under mmap_read_lock_killable. Returns
    /// 0, -ESRCH (no thread with an mm), -EINVAL (not dying and not already reaped) or -EAGAIN (a notifier failed).
    /// </summary>
    public virtual async SimTask<int> process_mrelease(task_struct task)
    {
        using var fn = KernelFunction.Enter();
        var ret = 0;
        var reap = false;
        var p = await find_lock_task_mm(task);   // a thread that still has the mm during group exit
        if (p == null) return -ESRCH;             // put_task
        var mm = (await p.mm.Read())!;
        await mmgrab(mm);
        if (await task_will_free_mem(p)) reap = true;
        else if ((await mm.flags.Read() & MmFlags.MMF_OOM_SKIP) == 0)
            ret = -EINVAL;                        // error only if the work has not been done already
        await task_unlock(p);
        if (reap)
        {
            await down_read(mm.mmap_lock);        // mmap_read_lock_killable (the model's caller has no fatal signal)
            // MMF_OOM_SKIP again under the lock: exit_mmap sets it before taking the write lock.
            if ((await mm.flags.Read() & MmFlags.MMF_OOM_SKIP) == 0 && !await __oom_reap_task_mm(mm))
                ret = -EAGAIN;
            await up_read(mm.mmap_lock);
        }
        await mmdrop(mm);                         // drop_mm
        return ret;
    }
}
