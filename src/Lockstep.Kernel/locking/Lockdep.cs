using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>lockdep's wait types (include/linux/lockdep_types.h).</summary>
public enum WaitType { Inv = 0, Free = 1, Spin = 2, Config = 3, Sleep = 4 }

/// <summary>A lock class: every lock initialised at one place shares it (KERNEL-FACTS §4.4).</summary>
public sealed class LockClass
{
    public LockClass(string name, WaitType waitType)
    {
        Name = name;
        WaitType = waitType;
    }

    public string Name { get; }

    public WaitType WaitType { get; }

    internal int Id { get; set; } = -1;

    public override string ToString() => Name;
}

/// <summary>A lockdep map with no lock behind it (a pseudo-lock such as mmu_notifier_invalidate_range_start, or an SRCU domain).</summary>
public sealed class LockdepMap
{
    public LockdepMap(LockClass @class) => Class = @class;

    public LockClass Class { get; }
}

/// <summary>
/// The lock validator: held-lock checks at every acquisition, a dependency graph across all executions of the run,
/// and the reports of KERNEL-FACTS §4.4 in the kernel's format. It never switches itself off.
/// </summary>
public sealed class Lockdep
{
    private readonly Kernel _kernel;
    private readonly Dictionary<string, LockClass> _classes = new();
    private readonly List<LockClass> _byId = new();
    // from-class -> to-class -> the first recorded dependency of each of the four kinds
    private readonly Dictionary<int, Dictionary<int, Dependency>> _after = new();

    internal Lockdep(Kernel kernel) => _kernel = kernel;

    /// <summary>One edge of the graph: "to" was acquired while "from" was held.</summary>
    public sealed record Dependency(LockClass From, LockClass To, int Kinds, IReadOnlyList<string> Stack, string Token);

    public IEnumerable<Dependency> Dependencies => _after.Values.SelectMany(d => d.Values);

    public IReadOnlyList<LockClass> Classes => _byId;

    /// <summary>The class registered under <paramref name="name"/> (one per lock declaration site).</summary>
    public LockClass Class(string name, WaitType waitType)
    {
        if (_classes.TryGetValue(name, out var c)) return c;
        c = new LockClass(name, waitType) { Id = _byId.Count };
        _classes[name] = c;
        _byId.Add(c);
        return c;
    }

    private bool On => _kernel.Config.PROVE_LOCKING;

    // Like lockdep's lock_chains: a held-lock chain plus the new acquisition, once validated, is not validated again.
    // A cycle closed later is found when its closing dependency is added, so nothing is missed. The key has each held
    // lock's class and read, as hlock_id does, and also its trylock bit, which the kernel's key does not: check_prevs_add
    // walks past held trylocks, so without it a chain's dependencies would depend on which of its variants ran first.
    private readonly HashSet<ulong> _validatedChains = new();

    private static ulong ChainKey(TaskStruct task, LockClass cls, int read)
    {
        var h = 14695981039346656037UL;
        void Mix(long v) => h = (h ^ (ulong)v) * 1099511628211UL;
        foreach (var held in task.held_locks) Mix(held.Class.Id * 8L + held.Read * 2L + (held.Trylock ? 1 : 0));
        Mix(-1);
        Mix(cls.Id * 8L + read * 2L);
        return h;
    }

    /// <summary>The acquisition site: the innermost modelled kernel function, else the C# caller.</summary>
    private static string Site(TaskStruct task, string caller) => task.stack.Count > 0 ? task.stack[^1] : caller;

    // Dependency kinds: bit (holderShared*2 + acquiredRecursive). E=exclusive holder, S=shared, R=recursive read, N=not.
    private static int Kind(int heldRead, int newRead) => 1 << ((heldRead != 0 ? 2 : 0) + (newRead == 2 ? 1 : 0));

    /// <summary>
    /// lock_acquire (__lock_acquire): checks, then records the lock as held. <paramref name="sync"/> is lock_sync (acquire
    /// and release at once). A trylock is only recorded: check_wait_context returns early for it and validate_chain
    /// validates no trylock ("trylock can be done in any order"), kernel/locking/lockdep.c.
    /// </summary>
    public void Acquire(TaskStruct task, LockClass cls, object instance, int read, bool trylock, string site, bool sync = false)
    {
        site = Site(task, site);
        if (On && !trylock && _validatedChains.Add(ChainKey(task, cls, read)))
        {
            CheckWaitContext(task, cls, site);
            CheckDeadlock(task, cls, read, site);
            check_prevs_add(task, cls, read, site);
        }
        if (!sync) task.held_locks.Add(new HeldLock(cls, instance, read, site, trylock));
    }

    /// <summary>lock_release.</summary>
    public void Release(TaskStruct task, LockClass cls, object instance, string site)
    {
        site = Site(task, site);
        for (var i = task.held_locks.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(task.held_locks[i].Instance, instance))
            {
                task.held_locks.RemoveAt(i);
                return;
            }
        }
        if (!On) return;
        var sb = new StringBuilder();
        Header(sb, "=====================================", "WARNING: bad unlock balance detected!");
        sb.AppendLine($"{task} is trying to release lock ({cls.Name}) at:");
        sb.AppendLine(site);
        sb.AppendLine("but there are no more locks to release!");
        sb.AppendLine();
        sb.AppendLine("other info that might help us debug this:");
        HeldLocks(sb, task);
        Backtrace(sb, task);
        Report(task, "bad-unlock", "WARNING: bad unlock balance detected!", cls.Name, sb);
    }

    /// <summary>debug_check_no_locks_held at task exit.</summary>
    public void CheckNoLocksHeld(TaskStruct task)
    {
        if (!On || task.held_locks.Count == 0) return;
        var sb = new StringBuilder();
        Header(sb, "=====================================", $"WARNING: {task} still has locks held!");
        HeldLocks(sb, task);
        Backtrace(sb, task);
        Report(task, "held-at-exit", $"WARNING: {task} still has locks held!", task.held_locks[0].Class.Name, sb);
    }

    private void CheckDeadlock(TaskStruct task, LockClass cls, int read, string site)
    {
        foreach (var held in task.held_locks)
        {
            if (held.Class != cls) continue;
            if (read == 2 && held.Read != 0) continue;   // recursive read after read
            var sb = new StringBuilder();
            Header(sb, "============================================", "WARNING: possible recursive locking detected");
            TryingToAcquire(sb, task, cls, read, site, held);
            sb.AppendLine("other info that might help us debug this:");
            sb.AppendLine(" Possible unsafe locking scenario:");
            sb.AppendLine();
            sb.AppendLine("       CPU0");
            sb.AppendLine("       ----");
            sb.AppendLine($"  {Verb(held.Read)}({held.Class.Name});");
            sb.AppendLine($"  {Verb(read)}({cls.Name});");
            sb.AppendLine();
            sb.AppendLine(" *** DEADLOCK ***");
            sb.AppendLine();
            sb.AppendLine(" May be due to missing lock nesting notation");
            sb.AppendLine();
            HeldLocks(sb, task);
            Backtrace(sb, task);
            Report(task, "lockdep-recursive", "WARNING: possible recursive locking detected", $"{cls.Name} at {site}; held at {held.Site}", sb,
                new[] { held.Class.Name, cls.Name });
            return;
        }
    }

    /// <summary>
    /// check_wait_context: the new lock's wait type must not exceed the strictest inner wait type of the held locks (the
    /// task context itself allows LD_WAIT_MAX). It runs on every lockdep kernel; without PROVE_RAW_LOCK_NESTING,
    /// LD_WAIT_CONFIG is LD_WAIT_SPIN (include/linux/lockdep_types.h), so only a sleeping lock under a spinning one trips it.
    /// </summary>
    private void CheckWaitContext(TaskStruct task, LockClass cls, string site)
    {
        var next = Wait(cls.WaitType);
        if (next == 0) return;   // LD_WAIT_INV: not checked
        var max = Wait(WaitType.Sleep) + 1;   // task_wait_context: LD_WAIT_MAX in task context
        var inner = max;
        HeldLock? strictest = null;
        foreach (var h in task.held_locks)
        {
            var w = Wait(h.Class.WaitType);
            if (w == 0 || w >= inner) continue;
            inner = w;
            strictest = h;
        }
        if (next <= inner) return;
        var sb = new StringBuilder();
        Header(sb, "=============================", "[ BUG: Invalid wait context ]");
        sb.AppendLine($"{task} is trying to lock:");
        sb.AppendLine($"{Describe(cls, 0)}, at: {site}");
        sb.AppendLine("other info that might help us debug this:");
        sb.AppendLine($"context-{{{max}:{max}}}");
        HeldLocks(sb, task);
        Backtrace(sb, task);
        Report(task, "invalid-wait-context", "[ BUG: Invalid wait context ]", $"{cls.Name} under {strictest!.Class.Name}", sb);
    }

    /// <summary>The wait type as this kernel numbers it: LD_WAIT_CONFIG folds into LD_WAIT_SPIN without PROVE_RAW_LOCK_NESTING.</summary>
    private int Wait(WaitType type)
        => !_kernel.Config.ProveRawLockNesting && type >= WaitType.Config ? (int)type - 1 : (int)type;

    /// <summary>
    /// check_prevs_add (kernel/locking/lockdep.c): a dependency from the held locks of the context to the new one,
    /// walking down from the most recent, "all consecutive trylock entries and the final non-trylock entry": the first
    /// non-trylock lock added its own dependencies when it was taken, so the new lock reaches the ones below through it.
    /// (The model's tasks run in one context; lockdep also stops where the irq_context changes.)
    /// </summary>
    private void check_prevs_add(TaskStruct task, LockClass cls, int read, string site)
    {
        for (var depth = task.held_locks.Count - 1; depth >= 0; depth--)
        {
            var prev = task.held_locks[depth];
            check_prev_add(task, prev, cls, read, site);
            if (!prev.Trylock) break;
        }
    }

    /// <summary>check_prev_add: report the cycle prev -> next would close (and then not record it), else record it.</summary>
    private void check_prev_add(TaskStruct task, HeldLock prev, LockClass cls, int read, string site)
    {
        if (prev.Class == cls) return;   // read-after-read of one class: check_deadlock let it through, nothing to order
        var kind = Kind(prev.Read, read);
        var edges = Edges(prev.Class.Id);
        if (edges.TryGetValue(cls.Id, out var existing) && (existing.Kinds & kind) != 0) return;
        // Would prev -> cls close a strong cycle? Look for a strong path cls ->* prev (check_noncircular).
        var path = FindStrongPath(cls, read, prev.Class, prev.Read);
        if (path != null)
        {
            ReportCircular(task, prev, cls, read, site, path);
            return;
        }
        edges[cls.Id] = existing == null
            ? new Dependency(prev.Class, cls, kind, task.stack.ToArray(), Sim.Execution.ScheduleSoFar())
            : existing with { Kinds = existing.Kinds | kind };
    }

    private Dictionary<int, Dependency> Edges(int from)
    {
        if (!_after.TryGetValue(from, out var e)) _after[from] = e = new Dictionary<int, Dependency>();
        return e;
    }

    /// <summary>
    /// BFS for a strong dependency path (no -(*R)-> followed by -(S*)->, lockdep-design.rst) from
    /// <paramref name="start"/> (just acquired with <paramref name="startRead"/>) to <paramref name="target"/>,
    /// closing strongly with the held <paramref name="target"/> (held with <paramref name="targetRead"/>).
    /// </summary>
    private List<Dependency>? FindStrongPath(LockClass start, int startRead, LockClass target, int targetRead)
    {
        var startR = startRead == 2;
        var seen = new HashSet<(int, bool)> { (start.Id, startR) };
        var queue = new Queue<(int Lock, bool EnteredByR, List<Dependency> Path)>();
        queue.Enqueue((start.Id, startR, new List<Dependency>()));
        while (queue.Count > 0)
        {
            var (at, enteredByR, path) = queue.Dequeue();
            if (!_after.TryGetValue(at, out var edges)) continue;
            foreach (var (to, dep) in edges)
            {
                for (var bit = 0; bit < 4; bit++)
                {
                    if ((dep.Kinds & (1 << bit)) == 0) continue;
                    var holderShared = bit >= 2;
                    var acquiredR = (bit & 1) != 0;
                    if (enteredByR && holderShared) continue;   // -(*R)-> then -(S*)-> is not strong
                    var next = new List<Dependency>(path) { dep };
                    if (to == target.Id)
                    {
                        if (acquiredR && targetRead != 0) continue;   // closing: -(*R)-> into a lock held shared
                        return next;
                    }
                    if (seen.Add((to, acquiredR))) queue.Enqueue((to, acquiredR, next));
                }
            }
        }
        return null;
    }

    private void ReportCircular(TaskStruct task, HeldLock held, LockClass cls, int read, string site, List<Dependency> path)
    {
        var sb = new StringBuilder();
        Header(sb, "======================================================", "WARNING: possible circular locking dependency detected");
        TryingToAcquire(sb, task, cls, read, site, held);
        sb.AppendLine("which lock already depends on the new lock.");
        sb.AppendLine();
        sb.AppendLine();
        sb.AppendLine("the existing dependency chain (in reverse order) is:");
        // path: cls -> ... -> held.Class. In reverse order: #n is the held lock's dependency, #0 is the new lock.
        for (var i = path.Count - 1; i >= 0; i--)
        {
            sb.AppendLine();
            sb.AppendLine($"-> #{i + 1} ({path[i].To.Name}){Usage(path[i].To)}:");
            foreach (var f in path[i].Stack.Reverse()) sb.AppendLine($"       {f}");
        }
        sb.AppendLine();
        sb.AppendLine($"-> #0 ({cls.Name}){Usage(cls)}:");
        for (var i = task.stack.Count - 1; i >= 0; i--) sb.AppendLine($"       {task.stack[i]}");
        sb.AppendLine();
        sb.AppendLine("other info that might help us debug this:");
        sb.AppendLine();
        if (path.Count > 1)
        {
            sb.AppendLine($"Chain exists of:\n  {held.Class.Name} --> {string.Join(" --> ", path.Take(path.Count - 1).Select(d => d.To.Name).Reverse())} --> {cls.Name}");
            sb.AppendLine();
        }
        var other = path[^1];   // X -> held.Class recorded elsewhere, X = path.Count == 1 ? cls : ...
        var lastBeforeHeld = other.From;
        sb.AppendLine(" Possible unsafe locking scenario:");
        sb.AppendLine();
        sb.AppendLine("       CPU0                    CPU1");
        sb.AppendLine("       ----                    ----");
        sb.AppendLine($"  {Verb(held.Read)}({held.Class.Name});");
        sb.AppendLine($"                               lock({lastBeforeHeld.Name});");
        sb.AppendLine($"                               {Verb(other.Kinds >= 4 ? 1 : 0)}({held.Class.Name});");
        sb.AppendLine($"  {Verb(read)}({cls.Name});");
        sb.AppendLine();
        sb.AppendLine(" *** DEADLOCK ***");
        sb.AppendLine();
        HeldLocks(sb, task);
        Backtrace(sb, task);
        var chain = new[] { held.Class.Name, cls.Name }.Concat(path.Select(d => d.To.Name)).ToArray();
        var v = new KernelReport("lockdep-circular", "WARNING: possible circular locking dependency detected",
            sb.ToString(), task.ToString(), string.Join(" -> ", chain), _kernel.Config)
        { Prerequisite = path.Select(d => d.Token).Where(t => t.Length > 0).FirstOrDefault(), LockChain = chain };
        Kernel.State.TaintWarn = true;
        Sim.Report(v);
    }

    private void Report(TaskStruct task, string kind, string headline, string detail, StringBuilder sb, IReadOnlyList<string>? chain = null)
    {
        Sim.Report(new KernelReport(kind, headline, sb.ToString(), task.ToString(), detail, _kernel.Config) { LockChain = chain });
        Kernel.State.TaintWarn = true;
    }

    private void Header(StringBuilder sb, string rule, string title)
    {
        sb.AppendLine(rule);
        sb.AppendLine(title);
        sb.AppendLine($"{_kernel.Config.KernelRelease} #1 {(Kernel.State.TaintWarn ? "Tainted: G        W" : "Not tainted")}");
        sb.AppendLine(new string('-', rule.Length));
    }

    /// <summary>The "is trying to acquire lock: … but task is already holding lock: …" paragraph of lockdep's reports.</summary>
    private void TryingToAcquire(StringBuilder sb, TaskStruct task, LockClass cls, int read, string site, HeldLock held)
    {
        sb.AppendLine($"{task} is trying to acquire lock:");
        sb.AppendLine($"{Describe(cls, read)}, at: {site}");
        sb.AppendLine();
        sb.AppendLine("but task is already holding lock:");
        sb.AppendLine($"{Describe(held.Class, held.Read)}, at: {held.Site}");
        sb.AppendLine();
    }

    private static string Verb(int read) => read != 0 ? "rlock" : "lock";

    internal void HeldLocks(StringBuilder sb, TaskStruct task)
    {
        if (task.held_locks.Count == 0)
        {
            sb.AppendLine($"no locks held by {task}.");
            return;
        }
        sb.AppendLine($"{task.held_locks.Count} lock{(task.held_locks.Count == 1 ? "" : "s")} held by {task}:");
        for (var i = 0; i < task.held_locks.Count; i++)
        {
            var h = task.held_locks[i];
            sb.AppendLine($" #{i}: {Describe(h.Class, h.Read)}, at: {h.Site}");
        }
    }

    private static void Backtrace(StringBuilder sb, TaskStruct task)
    {
        sb.AppendLine();
        sb.AppendLine("stack backtrace:");
        sb.AppendLine(KernelLog.Banner(task));
        KernelLog.CallTrace(sb, task);
    }

    /// <summary>"ffffffff8a000010 (name){+.+.}-{3:3}": a stable fake address per class, usage bits, wait types.</summary>
    private string Describe(LockClass cls, int read) => $"{Address(cls)} ({cls.Name}){Usage(cls, read)}";

    private static string Address(LockClass cls) => $"ffffffff8a{cls.Id * 0x40 + 0x10:x6}";

    private string Usage(LockClass cls, int read = 0)
    {
        var wait = Wait(cls.WaitType);
        var usage = read != 0 ? "{.+.+}" : "{+.+.}";
        return $"{usage}-{{{wait}:{wait}}}";
    }
}
