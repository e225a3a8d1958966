using System.Numerics;

namespace Lockstep.Engine;

/// <summary>
/// Exhaustive stateless exploration with optimal dynamic partial-order reduction: wakeup trees and sleep sets
/// (Abdulla, Aronis, Jonsson, Sagonas, "Optimal dynamic partial order reduction", POPL'14, Algorithm 2), so that every
/// execution is a distinct Mazurkiewicz trace and none is abandoned asleep. Happens-before is tracked with vector
/// clocks. A race's reversal (the events that do not depend on its earlier event, then its later one) is inserted into
/// the wakeup tree of the earlier event's position unless a sleeping thread already covers it. A race whose later event
/// is a blocking operation that was not yet enabled when the earlier event ran (a lock acquisition after the holder's
/// release) is reversed at the latest earlier conflicting event where it was enabled (the holder's acquisition). With a
/// preemption bound, schedules needing more preemptions are skipped and the result is no longer exhaustive.
/// </summary>
public sealed class DporStrategy : IStrategy
{
    private const int S = SimThread.MaxThreads;

    /// <summary>In place of an object id: a step that conflicts with every operation (one that stopped the execution).</summary>
    private const int AnyObject = -2;

    /// <summary>An event: a thread's operation, by the object it touches and how (thread -1: removed from a sequence).</summary>
    private readonly record struct Event(int Thread, int Object, AccessKind Kind)
    {
        public bool ConflictsWith(Event other)
            => Object == AnyObject || other.Object == AnyObject
               || Object >= 0 && Object == other.Object && Kind.ConflictsWith(other.Kind);
    }

    /// <summary>A node of a wakeup tree: an event to run next, then its children in order (none: explore freely).</summary>
    private sealed class WakeupNode(Event e)
    {
        public readonly Event Event = e;
        public List<WakeupNode>? Children;
    }

    private readonly int? _preemptionBound;

    // Per position of the current schedule.
    private byte[] _chosen = new byte[256];
    private uint[] _enabled = new uint[256];
    private uint[] _sleep = new uint[256];
    private uint[] _stoppers = new uint[256];   // threads whose step here stopped an execution: woken by any next event
    private List<WakeupNode>?[] _wakeup = new List<WakeupNode>?[256];   // branches still to explore here, in order
    private int[] _objId = new int[256];
    private AccessKind[] _kind = new AccessKind[256];
    private int[] _local = new int[256];
    private int[] _preemptions = new int[256];
    private int[] _clock = new int[256 * S];
    private Event[] _asleep = new Event[256 * S];   // what each sleeping thread would do here

    // Per thread and per object of the current execution.
    private readonly int[] _threadClock = new int[S * S];
    private readonly int[] _threadEvents = new int[S];
    private readonly int[] _scratch = new int[S];
    private readonly List<List<int>> _history = new();
    private readonly List<Event> _sequence = new();
    private int _threads;
    private Execution? _execution;   // the one running

    private int _depth;
    private int _replayPoint = -1;
    private List<WakeupNode>? _below;   // the wakeup tree below the event chosen at the next position
    private bool _started;
    private bool _done;
    private bool _boundHit;

    public DporStrategy(int? preemptionBound = null) => _preemptionBound = preemptionBound;

    public string Description => _preemptionBound is { } b ? $"dpor(preemption bound {b})" : "dpor";

    public bool NeedsValueHistory => true;

    public bool Exhaustive => _done && !_boundHit;

    /// <summary>Executions abandoned because every runnable thread was asleep (none, unless a guard's reversal misjudged).</summary>
    public long SleepBlocked { get; private set; }

    public bool BeginExecution()
    {
        if (_started && _done) return false;
        _started = true;
        _depth = 0;
        _threads = 0;
        _execution = null;
        Array.Clear(_threadEvents);
        foreach (var h in _history) h.Clear();
        return true;
    }

    public void OnThreadCreated(int parent, int child)
    {
        _threads = Math.Max(_threads, child + 1);
        for (var t = 0; t < _threads; t++) _threadClock[t * S + child] = 0;   // nobody has seen the new thread yet
        var c = _threadClock.AsSpan(child * S, S);
        if (parent < 0) c.Clear();
        else _threadClock.AsSpan(parent * S, S).CopyTo(c);
        _threadEvents[child] = 0;
        // Rows below only copy the live threads' entries: positions recorded before this thread existed have not seen it.
        for (var i = 0; i < _depth; i++) _clock[i * S + child] = 0;
    }

    public int Choose(in SchedulingState state)
    {
        var n = _depth;
        EnsureCapacity(n + 1);
        _enabled[n] = state.Enabled;
        var threads = state.Threads;
        _execution = state.Execution;

        int tid;
        if (n <= _replayPoint)
        {
            tid = _chosen[n];
            if ((state.Enabled & (1u << tid)) == 0)
                throw new InvalidOperationException(
                    $"the model is not deterministic: replaying step {n}, thread {tid} cannot run (all state must be created inside the model)");
        }
        else
        {
            _sleep[n] = n == 0 ? 0 : SleepAfter(n - 1);
            _stoppers[n] = 0;
            _wakeup[n] = _below;
            if (Next(n, state.Enabled) is { } next)
            {
                tid = next.Event.Thread;
                _below = next.Children;
            }
            else
            {
                var candidates = state.Enabled & ~_sleep[n];
                if (candidates == 0)
                {
                    SleepBlocked++;
                    return -1;
                }
                tid = state.LastRan >= 0 && (candidates & (1u << state.LastRan)) != 0
                    ? state.LastRan
                    : BitOperations.TrailingZeroCount(candidates);
                _below = null;
            }
            _chosen[n] = (byte)tid;
        }
        _preemptions[n] = (n == 0 ? 0 : _preemptions[n - 1]) + (IsPreemption(n, tid) ? 1 : 0);
        RecordEvent(n, tid, threads[tid], analyze: n >= _replayPoint);
        _depth = n + 1;
        return tid;
    }

    /// <summary>Takes the first branch of position n's wakeup tree that can run there (within the preemption bound).</summary>
    private WakeupNode? Next(int n, uint enabled)
    {
        var branches = _wakeup[n];
        while (branches is { Count: > 0 })
        {
            var node = branches[0];
            branches.RemoveAt(0);
            var t = node.Event.Thread;
            if ((enabled & ~_sleep[n] & (1u << t)) == 0) continue;   // only where a guard's reversal misjudged
            if (_preemptionBound is { } bound && IsPreemption(n, t) && (n == 0 ? 0 : _preemptions[n - 1]) + 1 > bound)
            {
                _boundHit = true;
                continue;
            }
            return node;
        }
        return null;
    }

    public void EndExecution(ExecutionEnd end)
    {
        if (end != ExecutionEnd.Pruned && _execution != null) AnalyzePending(end);
        for (var i = _depth - 1; i >= 0; i--)
        {
            var c = _chosen[i];
            _sleep[i] |= 1u << c;
            _asleep[i * S + c] = new Event(c, (_stoppers[i] & (1u << c)) != 0 ? AnyObject : _objId[i], _kind[i]);
            if (Next(i, _enabled[i]) is { } next)
            {
                _chosen[i] = (byte)next.Event.Thread;
                _below = next.Children;
                _replayPoint = i;
                return;
            }
        }
        _done = true;
    }

    private bool IsPreemption(int n, int tid)
        => n > 0 && tid != _chosen[n - 1] && (_enabled[n] & (1u << _chosen[n - 1])) != 0;

    /// <summary>
    /// The sleep set after position i: sleepers whose next operation is independent of the event at i (a thread whose
    /// step here stopped an execution wakes on any event). Called at i + 1, when every sleeper still has the operation
    /// it had at i pending.
    /// </summary>
    private uint SleepAfter(int i)
    {
        var e = new Event(_chosen[i], _objId[i], _kind[i]);
        uint result = 0;
        for (var mask = _sleep[i] & ~_stoppers[i]; mask != 0; mask &= mask - 1)
        {
            var r = BitOperations.TrailingZeroCount(mask);
            var sleeper = _asleep[i * S + r];
            if (sleeper.ConflictsWith(e)) continue;
            result |= 1u << r;
            _asleep[(i + 1) * S + r] = sleeper;
        }
        return result;
    }

    private void RecordEvent(int n, int q, SimThread thread, bool analyze)
    {
        var obj = thread.PendingObject;
        var kind = thread.PendingKind;
        var local = ++_threadEvents[q];
        var clock = _clock.AsSpan(n * S, _threads);
        _threadClock.AsSpan(q * S, _threads).CopyTo(clock);
        clock[q] = local;
        _chosen[n] = (byte)q;
        _local[n] = local;
        _kind[n] = kind;
        _objId[n] = obj?.Id ?? -1;

        if (obj != null && kind != AccessKind.None)
        {
            var history = History(obj.Id);
            for (var k = history.Count - 1; k >= 0; k--)
            {
                var j = history[k];
                if (!_kind[j].ConflictsWith(kind)) continue;
                Join(clock, _clock.AsSpan(j * S, _threads));
                if (_kind[j].Writes()) break;   // everything earlier happens before this write
            }
            if (analyze) AnalyzeRaces(n, q, obj, kind, thread.PendingGuard);
            history.Add(n);
        }
        clock.CopyTo(_threadClock.AsSpan(q * S, _threads));
    }

    /// <summary>
    /// The races of q's operation as the event at position n (executed there, or still pending when the execution
    /// ended at n): each earlier conflicting event that does not happen before it gets a backtrack point. A guarded
    /// operation is reversed only where its guard held.
    /// </summary>
    private void AnalyzeRaces(int n, int q, SimObject obj, AccessKind kind, object? guard)
    {
        var history = History(obj.Id);
        var covered = _scratch.AsSpan(0, _threads);
        _threadClock.AsSpan(q * S, _threads).CopyTo(covered);   // q's clock before this event
        for (var k = history.Count - 1; k >= 0; k--)
        {
            var j = history[k];
            var kj = _kind[j];
            if (!kj.ConflictsWith(kind)) continue;
            if (_local[j] > covered[_chosen[j]])
            {
                if (guard != null && !obj.GuardHeldBefore(k, guard))
                    continue;   // could not have run before e_j: look further back
                AddRace(j, n, new Event(q, obj.Id, kind));
                Join(covered, _clock.AsSpan(j * S, _threads));
            }
            if (kj.Writes()) break;   // everything earlier happens before this write
        }
    }

    /// <summary>
    /// The operations still pending when the execution ended (a waiter blocked to the end, a thread a violation
    /// stopped) never ran, but each could have run earlier, where it conflicts with what did: race them as the
    /// next event. (The thread a violation stopped inside its step may still show the operation it ran; racing that
    /// again only repeats races already found.) A violation that stops the execution in a step conflicts with every
    /// operation that could have run before that step: it decides whether that operation runs at all.
    /// </summary>
    private void AnalyzePending(ExecutionEnd end)
    {
        var threads = _execution!.Threads;
        var last = _depth - 1;
        var stopper = last >= 0 ? _chosen[last] : -1;
        var stoppedByStep = end == ExecutionEnd.Stopped && last >= 0
            && _execution.Violations[^1] is { Kind: not "livelock" } and not DeadlockViolation;   // not the step bound, not a deadlock
        if (stoppedByStep) _stoppers[last] |= 1u << stopper;
        for (var q = 0; q < _threads; q++)
        {
            var thread = threads[q];
            if (thread.IsFinished || thread.PendingObject is not { } obj || thread.PendingKind == AccessKind.None) continue;
            AnalyzeRaces(_depth, q, obj, thread.PendingKind, thread.PendingGuard);
        }
        if (!stoppedByStep) return;
        for (var q = 0; q < _threads; q++)
        {
            var thread = threads[q];
            if (q == stopper || !thread.IsEnabled || _local[last] <= _threadClock[q * S + stopper]) continue;
            AddRace(last, _depth, new Event(q, thread.PendingObject?.Id ?? -1, thread.PendingKind));
        }
        // and with every earlier step of another thread that does not happen before it: the latest of each thread
        var covered = _scratch.AsSpan(0, _threads);
        _clock.AsSpan(last * S, _threads).CopyTo(covered);
        uint seen = 1u << stopper;
        for (var j = last - 1; j >= 0; j--)
        {
            var p = _chosen[j];
            if ((seen & (1u << p)) != 0) continue;
            seen |= 1u << p;
            if (_local[j] <= covered[p]) continue;
            AddRace(j, last, new Event(stopper, AnyObject, _kind[last]));
            Join(covered, _clock.AsSpan(j * S, _threads));
        }
    }

    /// <summary>
    /// Race e_j ⋖ e (the event of a thread at n): unless a thread asleep at j already covers it, insert the reversal
    /// notdep(e_j).e (what runs after e_j without depending on it, then e) into j's wakeup tree. A step that stopped the
    /// execution is left out of notdep: nothing ran after it.
    /// </summary>
    private void AddRace(int j, int n, Event e)
    {
        var pt = _chosen[j];
        var pl = _local[j];
        var v = _sequence;
        v.Clear();
        for (var k = j + 1; k < n; k++)
        {
            if (_clock[k * S + pt] >= pl) continue;   // happens after e_j
            var t = _chosen[k];
            if ((_stoppers[k] & (1u << t)) != 0) continue;
            v.Add(new Event(t, _objId[k], _kind[k]));
        }
        v.Add(e);
        for (var mask = _sleep[j]; mask != 0; mask &= mask - 1)
            if (IsWeakInitial(_asleep[j * S + BitOperations.TrailingZeroCount(mask)], v, 0)) return;
        if (_preemptionBound is { } bound && IsPreemption(j, v[0].Thread) && (j == 0 ? 0 : _preemptions[j - 1]) + 1 > bound)
        {
            _boundHit = true;
            return;
        }
        Insert(ref _wakeup[j], v);
    }

    /// <summary>
    /// Whether the thread of <paramref name="next"/> (its next event) can start w from index <paramref name="from"/> on
    /// (removed events skipped): its first event there depends on nothing before it, or it has none there and
    /// <paramref name="next"/> is independent of all of them.
    /// </summary>
    private static bool IsWeakInitial(Event next, List<Event> w, int from)
    {
        for (var i = from; i < w.Count; i++)
        {
            if (w[i].Thread == next.Thread)
            {
                for (var k = from; k < i; k++)
                    if (w[k].Thread >= 0 && w[k].ConflictsWith(w[i])) return false;
                return true;
            }
            if (w[i].Thread >= 0 && w[i].ConflictsWith(next)) return false;
        }
        return true;
    }

    /// <summary>
    /// Adds w to a wakeup tree unless the tree already holds a leaf it starts like: down the first child whose thread
    /// is a weak initial of what is left of w, dropping that thread's first event from w; a new branch where none is.
    /// </summary>
    private static void Insert(ref List<WakeupNode>? tree, List<Event> w)
    {
        tree ??= new List<WakeupNode>();
        var nodes = tree;
        var from = 0;
        while (true)
        {
            WakeupNode? match = null;
            foreach (var child in nodes)
                if (IsWeakInitial(child.Event, w, from)) { match = child; break; }
            if (match == null) break;
            if (match.Children is not { Count: > 0 }) return;   // a leaf: exploring it covers w
            Remove(w, match.Event.Thread, from);
            while (from < w.Count && w[from].Thread < 0) from++;
            nodes = match.Children;
        }
        for (var i = from; i < w.Count; i++)
        {
            if (w[i].Thread < 0) continue;
            var node = new WakeupNode(w[i]);
            nodes.Add(node);
            nodes = node.Children = new List<WakeupNode>();
        }
    }

    /// <summary>Marks the first event of <paramref name="thread"/> in w (from index <paramref name="from"/>) removed.</summary>
    private static void Remove(List<Event> w, int thread, int from)
    {
        for (var i = from; i < w.Count; i++)
            if (w[i].Thread == thread)
            {
                w[i] = w[i] with { Thread = -1 };
                return;
            }
    }

    private void Join(Span<int> into, ReadOnlySpan<int> from)
    {
        for (var u = 0; u < _threads; u++)
            if (from[u] > into[u]) into[u] = from[u];
    }

    private List<int> History(int objectId)
    {
        while (_history.Count <= objectId) _history.Add(new List<int>());
        return _history[objectId];
    }

    private void EnsureCapacity(int size)
    {
        if (size <= _chosen.Length) return;
        var n = Math.Max(size, _chosen.Length * 2);
        Array.Resize(ref _chosen, n);
        Array.Resize(ref _enabled, n);
        Array.Resize(ref _wakeup, n);
        Array.Resize(ref _sleep, n);
        Array.Resize(ref _stoppers, n);
        Array.Resize(ref _objId, n);
        Array.Resize(ref _kind, n);
        Array.Resize(ref _local, n);
        Array.Resize(ref _preemptions, n);
        Array.Resize(ref _clock, n * S);
        Array.Resize(ref _asleep, n * S);
    }
}
