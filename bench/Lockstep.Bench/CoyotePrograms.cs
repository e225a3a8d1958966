using Microsoft.Coyote.Runtime;
using Microsoft.Coyote.Specifications;

namespace Lockstep.Bench;

/// <summary>
/// The programs of <see cref="SharedPrograms"/> (and the engine's ABBA and lost-update samples) for Coyote, without IL
/// rewriting: each simulated thread is an OS thread registered as a controlled operation, each shared access or lock
/// operation is preceded by <see cref="Operation.ScheduleNext"/>, and a lock acquisition pauses until the lock is free.
/// </summary>
public static class CoyotePrograms
{
    private sealed class Lock
    {
        private int _owner;

        public void Acquire(int me)
        {
            Operation.ScheduleNext();
            Operation.PauseUntil(() => _owner == 0);
            _owner = me;
        }

        public void Release()
        {
            Operation.ScheduleNext();
            _owner = 0;
        }
    }

    private static void Point() => Operation.ScheduleNext();

    /// <summary>Runs each body as a controlled operation on its own thread and waits for all of them.</summary>
    private static void RunAll(params Action[] bodies)
    {
        var ids = new ulong[bodies.Length];
        var threads = new Thread[bodies.Length];
        for (var i = 0; i < bodies.Length; i++)
        {
            var id = ids[i] = Operation.CreateNext() ?? throw new InvalidOperationException("Coyote's test engine is not attached");
            var body = bodies[i];
            threads[i] = new Thread(() =>
            {
                try
                {
                    Operation.OnStarted(id);
                    body();
                    Operation.OnCompleted();
                    Operation.ScheduleNext();
                }
                catch (ThreadInterruptedException)
                {
                    // Coyote detaches the paused threads of an iteration it ended (a deadlock, a failed assertion)
                }
            }) { IsBackground = true };
            Operation.Start(id);
            threads[i].Start();
        }
        Operation.ScheduleNext();
        foreach (var id in ids) Operation.PauseUntilCompleted(id);
        foreach (var t in threads) t.Join();
    }

    public static Action PingPong(int rounds) => () =>
    {
        var lk = new Lock();
        var x = 0;
        void Body(int me)
        {
            for (var i = 0; i < rounds; i++)
            {
                lk.Acquire(me);
                Point();
                var v = x;
                Point();
                x = v + 1;
                lk.Release();
            }
        }
        RunAll(() => Body(1), () => Body(2));
        Point();
        Specification.Assert(x == 2 * rounds, $"x == {2 * rounds}");
    };

    public static Action AbbaDeadlock() => () =>
    {
        var a = new Lock();
        var b = new Lock();
        RunAll(() =>
        {
            a.Acquire(1);
            b.Acquire(1);
            b.Release();
            a.Release();
        }, () =>
        {
            b.Acquire(2);
            a.Acquire(2);
            a.Release();
            b.Release();
        });
    };

    public static Action LostUpdate(int n) => () =>
    {
        var x = 0;
        RunAll(Enumerable.Range(0, n).Select(_ => (Action)(() =>
        {
            Point();
            var v = x;
            Point();
            x = v + 1;
        })).ToArray());
        Point();
        Specification.Assert(x == n, $"x == {n} (it is {x})");
    };

    public static Action Notifier(int invalidators, int faults, bool skipCountCheck) => () =>
    {
        var mmuLock = new Lock();
        int count = 0, seq = 0, gen = 0, mapped = -1;
        void Invalidate(int me)
        {
            mmuLock.Acquire(me);
            Point();
            count++;
            mmuLock.Release();
            mmuLock.Acquire(me);
            Point();
            mapped = -1;
            mmuLock.Release();
            Point();
            gen++;
            mmuLock.Acquire(me);
            Point();
            seq++;
            Point();
            count--;
            mmuLock.Release();
        }
        void Fault(int me)
        {
            Point();
            var s = seq;
            Point();
            var g = gen;
            mmuLock.Acquire(me);
            var clear = skipCountCheck;
            if (!clear)
            {
                Point();
                clear = count == 0;
            }
            if (clear)
            {
                Point();
                if (seq == s)
                {
                    Point();
                    mapped = g;
                }
            }
            mmuLock.Release();
        }
        var bodies = new List<Action>();
        for (var i = 0; i < invalidators; i++)
        {
            var me = bodies.Count + 1;
            bodies.Add(() => Invalidate(me));
        }
        for (var i = 0; i < faults; i++)
        {
            var me = bodies.Count + 1;
            bodies.Add(() => Fault(me));
        }
        RunAll(bodies.ToArray());
        Point();
        var m = mapped;
        Point();
        var current = gen;
        Specification.Assert(m == -1 || m == current, $"no stale page is mapped (mapped gen {m}, current {current})");
    };
}
