using System.Runtime.CompilerServices;

namespace Lockstep.Engine;

/// <summary>
/// A shared variable. Every operation is a scheduling point; the value changes when the scheduler runs it.
/// <see cref="WaitUntil"/> and <see cref="WaitAndUpdate"/> block the caller until a condition on the value holds:
/// any write that makes it hold wakes the waiter, and a waiter that nothing can wake is a deadlock.
/// </summary>
public sealed class Shared<T> : SimObject
{
    private T _value;

    // The value history exploration asks for (GuardHeldBefore), kept only when the strategy needs it: how many accesses
    // there were, and for each access that could change the value (every one but a read), its index and the value it
    // found. Reads change nothing, so the value before any access is the one the first such access from it on found,
    // or the current value if there is none.
    private readonly bool _recordsHistory;
    private int _accesses;
    private (int Access, T Before)[]? _changes;
    private int _changeCount;

    public Shared(string name, T initial = default!) : base(name)
    {
        _value = initial;
        _recordsHistory = Execution.RecordsValueHistory;
    }

    /// <summary>The value without a scheduling point: for checkers and reports, never for model logic.</summary>
    public T Peek => _value;

    public Op<T> Read() => new(this, AccessKind.Read, OpCode.Read, default!, default!, null, null);

    public Op<T> Write(T value) => new(this, AccessKind.Write, OpCode.Write, value, default!, null, null);

    /// <summary>Atomically: if the value equals <paramref name="expected"/>, store <paramref name="desired"/>. Returns the old value.</summary>
    public Op<T> CompareExchange(T expected, T desired)
        => new(this, AccessKind.ReadModifyWrite, OpCode.CompareExchange, desired, expected, null, null);

    /// <summary>Atomically replace the value by <paramref name="update"/>(value). Returns the old value.</summary>
    public Op<T> Update(Func<T, T> update) => new(this, AccessKind.ReadModifyWrite, OpCode.Update, default!, default!, null, update);

    /// <summary>
    /// Atomically replace the value by <paramref name="update"/>(value), where the caller promises that the update commutes
    /// with every other <see cref="Commute"/> of this object (adding to a counter, say), and nothing reads its result. The
    /// explorer then does not order two of them (it still orders each against reads and writes): for bookkeeping that
    /// several tasks add to, such as a checker's count of callbacks in progress.
    /// </summary>
    public CommuteOp<T> Commute(Func<T, T> update) => new(new Op<T>(this, AccessKind.Commute, OpCode.Update, default!, default!, null, update));

    /// <summary>Block until <paramref name="condition"/>(value) holds, then read it.</summary>
    public Op<T> WaitUntil(Func<T, bool> condition) => new(this, AccessKind.Read, OpCode.Read, default!, default!, condition, null);

    /// <summary>Block until <paramref name="condition"/>(value) holds, then atomically replace it. Returns the old value.</summary>
    public Op<T> WaitAndUpdate(Func<T, bool> condition, Func<T, T> update)
        => new(this, AccessKind.ReadModifyWrite, OpCode.Update, default!, default!, condition, update);

    internal override bool GuardHolds(object guard) => ((Func<T, bool>)guard)(_value);

    internal override bool GuardHeldBefore(int access, object guard) => ((Func<T, bool>)guard)(ValueBefore(access));

    /// <summary>The value just before this object's <paramref name="access"/>-th access (one that happened).</summary>
    private T ValueBefore(int access)
    {
        if (!_recordsHistory || access >= _accesses) throw new ArgumentOutOfRangeException(nameof(access));
        int lo = 0, hi = _changeCount;   // the first change at or after access
        while (lo < hi)
        {
            var mid = (lo + hi) >> 1;
            if (_changes![mid].Access < access) lo = mid + 1;
            else hi = mid;
        }
        return lo < _changeCount ? _changes![lo].Before : _value;
    }

    private void Record(OpCode code, T before)
    {
        var access = _accesses++;
        if (code == OpCode.Read) return;
        if (_changes == null) _changes = new (int, T)[4];
        else if (_changeCount == _changes.Length) Array.Resize(ref _changes, _changeCount * 2);
        _changes[_changeCount++] = (access, before);
    }

    internal T Apply(OpCode code, T operand, T expected, Func<T, T>? update)
    {
        var old = _value;
        if (_recordsHistory) Record(code, old);
        switch (code)
        {
            case OpCode.Write:
                _value = operand;
                break;
            case OpCode.CompareExchange:
                if (EqualityComparer<T>.Default.Equals(old, expected)) _value = operand;
                break;
            case OpCode.Update:
                _value = update!(old);
                break;
        }
        if (Execution.Tracing) Execution.TraceAccess(this, code, old, _value);
        return old;
    }
}

internal enum OpCode : byte { Read, Write, CompareExchange, Update }

/// <summary>A pending <see cref="Shared{T}.Commute"/>: awaiting it is the scheduling point; it has no result.</summary>
public readonly struct CommuteOp<T> : ICriticalNotifyCompletion
{
    private readonly Op<T> _op;

    internal CommuteOp(Op<T> op) => _op = op;

    public CommuteOp<T> GetAwaiter() => this;

    public bool IsCompleted => _op.IsCompleted;

    public void OnCompleted(Action continuation) => _op.OnCompleted(continuation);

    public void UnsafeOnCompleted(Action continuation) => _op.UnsafeOnCompleted(continuation);

    public void GetResult() => _op.GetResult();
}

/// <summary>A pending operation on a <see cref="Shared{T}"/>; awaiting it is the scheduling point.</summary>
public readonly struct Op<T> : ICriticalNotifyCompletion
{
    private readonly Shared<T> _target;
    private readonly AccessKind _kind;
    private readonly OpCode _code;
    private readonly T _operand;
    private readonly T _expected;
    private readonly Func<T, bool>? _condition;
    private readonly Func<T, T>? _update;

    internal Op(Shared<T> target, AccessKind kind, OpCode code, T operand, T expected, Func<T, bool>? condition, Func<T, T>? update)
    {
        _target = target;
        _kind = kind;
        _code = code;
        _operand = operand;
        _expected = expected;
        _condition = condition;
        _update = update;
    }

    public Op<T> GetAwaiter() => this;

    public bool IsCompleted => _target.Execution.SchedulingPoint(_target, _kind, _condition);

    public void OnCompleted(Action continuation) => _target.Execution.Suspend(continuation);

    public void UnsafeOnCompleted(Action continuation) => _target.Execution.Suspend(continuation);

    public T GetResult() => _target.Apply(_code, _operand, _expected, _update);
}
