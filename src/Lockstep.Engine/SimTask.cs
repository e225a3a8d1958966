using System.Runtime.CompilerServices;

namespace Lockstep.Engine;

/// <summary>
/// The task type of model code. An <c>async SimTask</c> method runs on the engine's single OS thread;
/// it suspends only at scheduling points (operations on <see cref="SimObject"/>s), where the scheduler
/// decides which simulated thread runs next. Nested calls complete synchronously into their caller.
/// </summary>
[AsyncMethodBuilder(typeof(SimTaskMethodBuilder))]
public class SimTask
{
    internal static readonly SimTask Completed = new() { _completed = true };

    /// <summary>A task that has already completed.</summary>
    public static SimTask CompletedTask => Completed;

    private bool _completed;
    private Exception? _exception;
    private Action? _continuation;

    internal bool IsCompleted => _completed;

    internal Exception? Exception => _exception;

    public SimTaskAwaiter GetAwaiter() => new(this);

    internal void OnCompleted(Action continuation)
    {
        if (_continuation != null)
            throw new InvalidOperationException("a SimTask can be awaited only once");
        _continuation = continuation;
    }

    internal void SetCompleted(Exception? exception)
    {
        _exception = exception;
        _completed = true;
        var c = _continuation;
        _continuation = null;
        c?.Invoke();
    }

    internal void ThrowIfFailed()
    {
        if (_exception != null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_exception);
    }
}

/// <summary>A <see cref="SimTask"/> with a result.</summary>
[AsyncMethodBuilder(typeof(SimTaskMethodBuilder<>))]
public class SimTask<T> : SimTask
{
    internal T Result = default!;

    public new SimTaskAwaiter<T> GetAwaiter() => new(this);

    public static SimTask<T> FromValue(T value)
    {
        var t = new SimTask<T> { Result = value };
        t.SetCompleted(null);
        return t;
    }

    /// <summary>
    /// What an async method that completed without suspending returns: a shared completed task for the results model
    /// code returns most (false and true, the ints -1 to 14), a new one otherwise. A completed task is never awaited on
    /// (its awaiter is complete), so sharing one changes nothing.
    /// </summary>
    internal static SimTask<T> CompletedWith(T value)
    {
        if (typeof(T) == typeof(bool)) return (SimTask<T>)(object)((bool)(object)value! ? CompletedTasks.True : CompletedTasks.False);
        if (typeof(T) == typeof(int) && (int)(object)value! is >= -1 and <= 14) return (SimTask<T>)(object)CompletedTasks.Ints[(int)(object)value! + 1];
        return FromValue(value);
    }
}

internal static class CompletedTasks
{
    public static readonly SimTask<bool> False = SimTask<bool>.FromValue(false);
    public static readonly SimTask<bool> True = SimTask<bool>.FromValue(true);
    public static readonly SimTask<int>[] Ints = Enumerable.Range(-1, 16).Select(SimTask<int>.FromValue).ToArray();
}

public readonly struct SimTaskAwaiter : ICriticalNotifyCompletion
{
    private readonly SimTask _task;
    internal SimTaskAwaiter(SimTask task) => _task = task;
    public bool IsCompleted => _task.IsCompleted;
    public void GetResult() => _task.ThrowIfFailed();
    public void OnCompleted(Action continuation) => _task.OnCompleted(continuation);
    public void UnsafeOnCompleted(Action continuation) => _task.OnCompleted(continuation);
}

public readonly struct SimTaskAwaiter<T> : ICriticalNotifyCompletion
{
    private readonly SimTask<T> _task;
    internal SimTaskAwaiter(SimTask<T> task) => _task = task;
    public bool IsCompleted => _task.IsCompleted;
    public T GetResult()
    {
        _task.ThrowIfFailed();
        return _task.Result;
    }
    public void OnCompleted(Action continuation) => _task.OnCompleted(continuation);
    public void UnsafeOnCompleted(Action continuation) => _task.OnCompleted(continuation);
}

/// <summary>The heap home of a suspended async state machine; it is also the method's task.</summary>
internal interface IStateMachineBox
{
    Action MoveNextAction { get; }
}

// MoveNextAction is a delegate to the box's own MoveNext, which runs the state machine in place: a delegate made from
// StateMachine.MoveNext directly would box a copy of the (struct) state machine and run that copy instead.
internal sealed class StateMachineBox<TStateMachine> : SimTask, IStateMachineBox
    where TStateMachine : IAsyncStateMachine
{
    public TStateMachine StateMachine = default!;
    private Action? _moveNext;
    public Action MoveNextAction => _moveNext ??= MoveNext;
    private void MoveNext() => StateMachine.MoveNext();
}

internal sealed class StateMachineBox<TStateMachine, T> : SimTask<T>, IStateMachineBox
    where TStateMachine : IAsyncStateMachine
{
    public TStateMachine StateMachine = default!;
    private Action? _moveNext;
    public Action MoveNextAction => _moveNext ??= MoveNext;
    private void MoveNext() => StateMachine.MoveNext();
}

public struct SimTaskMethodBuilder
{
    private SimTask? _task;

    public static SimTaskMethodBuilder Create() => default;

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
        => stateMachine.MoveNext();

    public void SetStateMachine(IAsyncStateMachine stateMachine) { }

    public SimTask Task => _task ??= SimTask.Completed;

    public void SetResult()
    {
        if (_task == null) _task = SimTask.Completed;
        else _task.SetCompleted(null);
    }

    public void SetException(Exception exception)
    {
        _task ??= new SimTask();
        _task.SetCompleted(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine
        => awaiter.OnCompleted(GetBox(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine
        => awaiter.UnsafeOnCompleted(GetBox(ref stateMachine).MoveNextAction);

    private IStateMachineBox GetBox<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        if (_task is IStateMachineBox existing) return existing;
        var box = new StateMachineBox<TStateMachine>();
        _task = box;                        // the copy below carries this builder, so it must see the box
        box.StateMachine = stateMachine;
        return box;
    }
}

public struct SimTaskMethodBuilder<T>
{
    private SimTask<T>? _task;

    public static SimTaskMethodBuilder<T> Create() => default;

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
        => stateMachine.MoveNext();

    public void SetStateMachine(IAsyncStateMachine stateMachine) { }

    public SimTask<T> Task => _task ??= new SimTask<T>();

    public void SetResult(T result)
    {
        if (_task == null) _task = SimTask<T>.CompletedWith(result);
        else
        {
            _task.Result = result;
            _task.SetCompleted(null);
        }
    }

    public void SetException(Exception exception)
    {
        _task ??= new SimTask<T>();
        _task.SetCompleted(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine
        => awaiter.OnCompleted(GetBox(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine
        => awaiter.UnsafeOnCompleted(GetBox(ref stateMachine).MoveNextAction);

    private IStateMachineBox GetBox<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        if (_task is IStateMachineBox existing) return existing;
        var box = new StateMachineBox<TStateMachine, T>();
        _task = box;
        box.StateMachine = stateMachine;
        return box;
    }
}
