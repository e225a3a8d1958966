using Lockstep.Engine;
using static Lockstep.Kernel.Api;

namespace Lockstep.Kernel;

/// <summary>struct rcuwait: a single waiter published for wakers (KERNEL-FACTS §4.6).</summary>
public sealed class rcuwait
{
    public rcuwait(string name) => task = new Shared<TaskStruct?>(name);

    internal readonly Shared<TaskStruct?> task;

    public static async SimTask prepare_to_rcuwait(rcuwait w) => await w.task.Write(current);

    public static async SimTask finish_rcuwait(rcuwait w)
    {
        await w.task.Write(null);
        await __set_current_state(TaskState.TASK_RUNNING);
    }

    public static async SimTask rcuwait_wake_up(rcuwait w)
    {
        var t = await w.task.Read();
        if (t != null) await wake_up_process(t);
    }

    /// <summary>rcuwait_active: a peek (READ_ONCE) used only by WARN_ONs.</summary>
    public static bool rcuwait_active(rcuwait w) => w.task.Peek != null;
}

/// <summary>struct completion.</summary>
public sealed class completion
{
    public completion(string name) => done = new Shared<int>(name);

    internal readonly Shared<int> done;

    public static async SimTask complete(completion x) => await x.done.Update(static d => d + 1);

    public static async SimTask wait_for_completion(completion x)
    {
        might_sleep();
        await x.done.WaitAndUpdate(static d => d > 0, static d => d - 1);
    }
}

/// <summary>A work item and a single-worker workqueue (queue_work, flush_work).</summary>
public sealed class work_struct : ITraceValue
{
    public work_struct(string name, Func<SimTask> func)
    {
        Name = name;
        this.func = func;
        pending = new Shared<bool>($"{name}.pending");
        running = new Shared<bool>($"{name}.running");
    }

    public string Name { get; }

    string ITraceValue.TraceText => Name;

    internal readonly Func<SimTask> func;
    internal readonly Shared<bool> pending;
    internal readonly Shared<bool> running;
}

public sealed class workqueue_struct
{
    private readonly Shared<System.Collections.Immutable.ImmutableQueue<work_struct>> _queue;
    private readonly Kernel _kernel;
    private readonly string _name;
    private readonly Shared<bool> _busy;
    private bool _started;

    public workqueue_struct(Kernel kernel, string name)
    {
        _kernel = kernel;
        _name = name;
        _queue = new($"{name}.queue", System.Collections.Immutable.ImmutableQueue<work_struct>.Empty);
        _busy = new($"{name}.busy");
        Kernel.State.Workqueues.Add(this);
    }

    /// <summary>False if the work was already pending.</summary>
    public static async SimTask<bool> queue_work(workqueue_struct wq, work_struct work)
    {
        if (await work.pending.CompareExchange(false, true)) return false;
        await wq._queue.Update(q => q.Enqueue(work));
        if (!wq._started)
        {
            wq._started = true;
            wq._kernel.kthread_run(wq.worker_thread, $"kworker/u8:{wq._name}", 30, daemon: true);
        }
        return true;
    }

    private async SimTask worker_thread()
    {
        while (true)
        {
            var q = await _queue.WaitUntil(static q => !q.IsEmpty);
            var work = q.Peek();
            await _busy.Write(true);
            await work.running.Write(true);
            await _queue.Update(static q => q.Dequeue());
            await work.pending.Write(false);
            using (KernelFunction.Enter("process_one_work"))
                await work.func();
            await work.running.Write(false);
            await _busy.Write(false);
        }
    }

    /// <summary>Waits until every work queued so far has run.</summary>
    public static async SimTask flush_workqueue(workqueue_struct wq)
    {
        might_sleep();
        await wq._queue.WaitUntil(static q => q.IsEmpty);
        await wq._busy.WaitUntil(static b => !b);
    }

    /// <summary>Waits until the work is neither pending nor running.</summary>
    public static async SimTask flush_work(work_struct work)
    {
        might_sleep();
        await work.pending.WaitUntil(static p => !p);
        await work.running.WaitUntil(static r => !r);
    }
}
