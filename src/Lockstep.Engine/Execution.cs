using System.Numerics;

namespace Lockstep.Engine;

/// <summary>How an execution ended.</summary>
public enum ExecutionEnd
{
    Completed,
    /// <summary>A fatal violation (deadlock, livelock, crash, failed assertion) stopped it.</summary>
    Stopped,
    /// <summary>The strategy declined to go on (every enabled thread was in the sleep set).</summary>
    Pruned,
}

/// <summary>
/// One run of a model on the calling OS thread. Simulated threads are async methods; at every scheduling point the
/// strategy picks the next thread. If it picks the thread already running, that thread goes on inline; otherwise the
/// running thread's continuation is parked and the driver resumes the chosen one.
/// </summary>
public sealed class Execution
{
    [ThreadStatic] private static Execution? _current;

    private readonly IStrategy _strategy;
    private readonly List<SimThread> _threads = new();
    private readonly List<byte> _choices = new();
    private readonly List<Violation> _violations = new();
    private readonly List<TraceEvent>? _trace;
    private readonly int _maxSteps;
    private SimThread? _next;
    private int _nextObjectId;
    private bool _stopped;
    private bool _pruned;
    private int _lastRan = -1;
    private int _preemptions;

    internal Execution(IStrategy strategy, int maxSteps, bool tracing)
    {
        _strategy = strategy;
        _maxSteps = maxSteps;
        RecordsValueHistory = strategy.NeedsValueHistory;
        if (tracing) _trace = new List<TraceEvent>();
    }

    /// <summary>The execution running on this OS thread, if any.</summary>
    public static Execution? Current => _current;

    public bool Tracing => _trace != null;

    internal bool RecordsValueHistory { get; }

    public SimThread? Running { get; private set; }

    public IReadOnlyList<SimThread> Threads => _threads;

    public int Steps { get; private set; }

    /// <summary>A slot for the layer above (the kernel layer keeps its per-execution state here).</summary>
    public object? Context { get; set; }

    /// <summary>
    /// Only when tracing: called with the thread concerned for every trace event and every reported violation; what it
    /// returns is kept with them (<see cref="TraceEvent.Annotation"/>, <see cref="Violation.Annotation"/>), e.g. the
    /// kernel context of the task for a viewer.
    /// </summary>
    public Func<SimThread, object?>? Annotator { get; set; }

    /// <summary>The replay token of the execution so far: replaying it reaches this point.</summary>
    public string ScheduleSoFar() => Schedule.Encode(_choices);

    public int Preemptions => _preemptions;

    public IReadOnlyList<Violation> Violations => _violations;

    public IReadOnlyList<TraceEvent> Trace => (IReadOnlyList<TraceEvent>?)_trace ?? Array.Empty<TraceEvent>();

    /// <summary>The schedule: the chosen thread at every step where more than one could run.</summary>
    internal IReadOnlyList<byte> Choices => _choices;

    internal int NewObjectId() => _nextObjectId++;

    internal ExecutionEnd Run(Func<SimTask> main)
    {
        var previous = _current;
        _current = this;
        try
        {
            Spawn("main", main);
            _next = Choose();
            while (_next != null && !_stopped)
            {
                var thread = _next;
                _next = null;
                Resume(thread);
                if (!_stopped && _next == null) _next = Choose();
            }
            if (!_stopped && !_pruned) CheckAllFinished();
            return _stopped ? ExecutionEnd.Stopped : _pruned ? ExecutionEnd.Pruned : ExecutionEnd.Completed;
        }
        finally
        {
            _current = previous;
        }
    }

    internal SimThreadHandle Spawn(string name, Func<SimTask> body, bool daemon = false)
    {
        if (_threads.Count == SimThread.MaxThreads)
            throw new InvalidOperationException($"a model may have at most {SimThread.MaxThreads} threads");
        var finished = new Shared<bool>($"{name}.exited");
        var thread = new SimThread(_threads.Count, name, body, finished, daemon);
        _threads.Add(thread);
        _strategy.OnThreadCreated(Running?.Id ?? -1, thread.Id);
        return new SimThreadHandle(thread);
    }

    /// <summary>Called by an awaiter: the running thread announces its next operation. True means "go on inline".</summary>
    internal bool SchedulingPoint(SimObject? target, AccessKind kind, object? guard)
    {
        var thread = Running!;
        thread.PendingObject = target;
        thread.PendingKind = kind;
        thread.PendingGuard = guard;
        if (_stopped) throw new ExecutionStoppedException();
        var chosen = Choose();
        if (chosen == thread) return true;
        _next = chosen;
        return false;
    }

    internal void Suspend(Action continuation)
    {
        Running!.Continuation = continuation;
        Running = null;
    }

    private void Resume(SimThread thread)
    {
        Running = thread;
        if (thread.Body != null)
        {
            var body = thread.Body;
            thread.Body = null;
            SimTask root;
            try
            {
                root = body();
            }
            catch (Exception e)
            {
                OnRootCompleted(thread, e);
                return;
            }
            if (root.IsCompleted) OnRootCompleted(thread, root.Exception);
            else root.OnCompleted(() => OnRootCompleted(thread, root.Exception));
        }
        else if (thread.PendingFinish)
        {
            thread.PendingFinish = false;
            thread.Finished.Apply(OpCode.Write, true, false, null);
            thread.IsFinished = true;
            Running = null;
        }
        else
        {
            var continuation = thread.Continuation!;
            thread.Continuation = null;
            continuation();
        }
    }

    private void OnRootCompleted(SimThread thread, Exception? exception)
    {
        Running = null;
        if (exception is ExecutionStoppedException) return;
        if (exception != null)
        {
            Stop(new Violation("crash", $"model code threw {exception.GetType().Name} in thread '{thread.Name}': {exception.Message}"));
            return;
        }
        thread.PendingObject = thread.Finished;
        thread.PendingKind = AccessKind.Write;
        thread.PendingGuard = null;
        thread.PendingFinish = true;
    }

    private SimThread? Choose()
    {
        if (_stopped || _pruned) return null;
        uint enabled = 0;
        for (var i = 0; i < _threads.Count; i++)
            if (_threads[i].IsEnabled) enabled |= 1u << i;
        if (enabled == 0) return null;
        if (Steps >= _maxSteps)
        {
            Stop(new Violation("livelock", $"possible livelock: the execution exceeded the bound of {_maxSteps} steps"));
            return null;
        }
        var id = _strategy.Choose(new SchedulingState(this, enabled, _lastRan));
        if (id < 0)
        {
            _pruned = true;
            return null;
        }
        if ((enabled & (1u << id)) == 0)
            throw new InvalidOperationException($"strategy chose thread {id}, which cannot run");
        if (BitOperations.PopCount(enabled) > 1) _choices.Add((byte)id);
        if (_lastRan >= 0 && id != _lastRan && (enabled & (1u << _lastRan)) != 0) _preemptions++;
        _lastRan = id;
        Steps++;
        var thread = _threads[id];
        if (_trace != null && thread.PendingObject == null)
            Record(thread, thread.Body != null ? ThreadStarted.Instance : ThreadYielded.Instance);
        return thread;
    }

    private void CheckAllFinished()
    {
        if (_threads.All(t => t.IsFinished || t.IsDaemon)) return;
        var blocked = _threads.Where(t => !t.IsFinished).ToList();
        Stop(new DeadlockViolation(blocked));
    }

    /// <summary>Records a violation; the execution goes on.</summary>
    public void Report(Violation violation)
    {
        Locate(violation);
        _violations.Add(violation);
    }

    /// <summary>Records a violation and ends the execution.</summary>
    public void Stop(Violation violation)
    {
        Locate(violation);
        _violations.Add(violation);
        _stopped = true;
    }

    /// <summary>When tracing: where in the trace, by which thread, in what context the violation was reported.</summary>
    private void Locate(Violation violation)
    {
        if (_trace == null) return;
        violation.TracePosition = _trace.Count;
        violation.ReportedBy = Running?.Id ?? -1;
        if (Running != null && Annotator != null) violation.Annotation = Annotator(Running);
    }

    /// <summary>Adds a note to the trace (only when tracing, and only from a running thread).</summary>
    public void Note(string text)
    {
        if (_trace != null && Running != null) Record(Running, new TraceNote(text));
    }

    /// <summary>
    /// Adds an event of a layer above to the trace, by the running thread (only when tracing: build the payload only
    /// after checking <see cref="Tracing"/>, so that exploration allocates nothing).
    /// </summary>
    public void Emit(TraceData data)
    {
        if (_trace != null && Running != null) Record(Running, data);
    }

    internal void TraceAccess<T>(Shared<T> target, OpCode code, T before, T after)
    {
        var thread = Running ?? _threads[_lastRan];
        var kind = code switch
        {
            OpCode.Read => SharedAccessKind.Read,
            OpCode.Write => SharedAccessKind.Write,
            _ => SharedAccessKind.Update,
        };
        var beforeText = TraceFormat.Value(before);
        var afterText = code == OpCode.Read ? beforeText : TraceFormat.Value(after);
        Record(thread, new SharedAccess(target.Name, kind, beforeText, afterText));
    }

    private void Record(SimThread thread, TraceData data)
        => _trace!.Add(new TraceEvent(Steps, thread.Id, thread.Name, data) { Annotation = Annotator?.Invoke(thread) });
}

/// <summary>What a strategy sees when it picks the next thread.</summary>
public readonly struct SchedulingState
{
    private readonly Execution _execution;

    internal SchedulingState(Execution execution, uint enabled, int lastRan)
    {
        _execution = execution;
        Enabled = enabled;
        LastRan = lastRan;
    }

    /// <summary>Bit i set: thread i can run.</summary>
    public uint Enabled { get; }

    /// <summary>The thread that ran the previous step, or -1.</summary>
    public int LastRan { get; }

    public int Step => _execution.Steps;

    public IReadOnlyList<SimThread> Threads => _execution.Threads;

    internal Execution Execution => _execution;
}
