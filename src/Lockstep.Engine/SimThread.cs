namespace Lockstep.Engine;

/// <summary>A simulated thread: an async method the scheduler runs one scheduling point at a time.</summary>
public sealed class SimThread
{
    /// <summary>Vector clocks and thread masks are sized for this many threads per execution.</summary>
    public const int MaxThreads = 32;

    internal SimThread(int id, string name, Func<SimTask> body, Shared<bool> finished, bool daemon)
    {
        Id = id;
        Name = name;
        Body = body;
        Finished = finished;
        IsDaemon = daemon;
    }

    /// <summary>A daemon (a worker waiting for work) may still be blocked when the execution ends; that is no deadlock.</summary>
    public bool IsDaemon { get; }

    public int Id { get; }

    public string Name { get; }

    /// <summary>A slot for the layer above (the kernel layer keeps its task context here).</summary>
    public object? Tag { get; set; }

    public bool IsFinished { get; internal set; }

    internal Func<SimTask>? Body;
    internal readonly Shared<bool> Finished;
    internal Action? Continuation;

    // The operation the thread will perform when next scheduled.
    internal SimObject? PendingObject;
    internal AccessKind PendingKind;
    internal object? PendingGuard;
    internal bool PendingFinish;

    internal bool IsEnabled => !IsFinished && (PendingGuard == null || PendingObject!.GuardHolds(PendingGuard));

    /// <summary>Where the thread stands, for deadlock reports and traces.</summary>
    public string PendingDescription => IsFinished ? "finished"
        : Body != null ? "not started"
        : PendingFinish ? "exiting"
        : PendingObject == null ? "yield"
        : PendingGuard != null ? $"waiting on {PendingObject.Name}"
        : $"{PendingKind} {PendingObject.Name}";

    public override string ToString() => Name;
}

/// <summary>What <see cref="Sim.Spawn"/> returns: a way to join the thread.</summary>
public readonly struct SimThreadHandle
{
    private readonly SimThread _thread;
    internal SimThreadHandle(SimThread thread) => _thread = thread;

    public SimThread Thread => _thread;

    /// <summary>Blocks until the thread has finished.</summary>
    public Op<bool> Join() => _thread.Finished.WaitUntil(static finished => finished);
}
