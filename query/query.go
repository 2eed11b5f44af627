// Package query compiles the CEL expressions of GET /api/v1/query?where=
// (cel.dev/cel-go). An expression is evaluated once per candidate entry,
// over the variables listed in Vars; it must be boolean.
package query

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"
	lru "github.com/hashicorp/golang-lru/v2"
)

// MaxExprLen bounds a where= expression.
const MaxExprLen = 4096

// EntryCostLimit bounds the CEL cost of evaluating an expression over one
// entry.
const EntryCostLimit = 250_000

// RequestBudget is the CEL cost one request may spend over all the
// entries it examines (see Budget). On this project's reference machine a
// unit of cost is roughly 100 ns of CPU, so a request's filter costs at
// most about a third of a second of CPU, and one entry a few tens of
// milliseconds.
const RequestBudget = 2_500_000

// Vars are the variables an expression can use, with their CEL types.
var Vars = map[string]*cel.Type{
	"index":         cel.IntType,
	"time":          cel.TimestampType,
	"kind":          cel.StringType,
	"type":          cel.StringType,
	"package":       cel.StringType,
	"version":       cel.StringType,
	"signers":       cel.ListType(cel.StringType),
	"subjects":      cel.ListType(cel.StringType),
	"predicateType": cel.StringType,
	"states":        cel.ListType(cel.StringType),
	"predicate":     cel.MapType(cel.StringType, cel.DynType),
	"fields":        cel.MapType(cel.StringType, cel.DynType),
	"erased":        cel.BoolType,
	// identities are a keyless attestation's signers: issuer, subject
	// and the certificate's extensions (empty for other entries, and once
	// erased).
	"identities": cel.ListType(cel.MapType(cel.StringType, cel.StringType)),
}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
	cache   *lru.Cache[string, *Filter]
)

func environment() (*cel.Env, error) {
	envOnce.Do(func() {
		var opts []cel.EnvOption
		for name, t := range Vars {
			opts = append(opts, cel.Variable(name, t))
		}
		env, envErr = cel.NewEnv(opts...)
		cache, _ = lru.New[string, *Filter](512)
	})
	return env, envErr
}

// Filter is a compiled where= expression.
type Filter struct {
	Expr string
	prg  cel.Program
	// UsesBody says whether the expression reads the statement
	// (predicate or fields), which then must be loaded.
	UsesBody bool
}

// CompileError is an expression that does not compile; its message names
// the problem.
type CompileError struct{ Msg string }

func (e *CompileError) Error() string { return e.Msg }

// Compile compiles a where= expression (cached).
func Compile(expr string) (*Filter, error) {
	e, err := environment()
	if err != nil {
		return nil, err
	}
	if f, ok := cache.Get(expr); ok {
		return f, nil
	}
	if len(expr) > MaxExprLen {
		return nil, &CompileError{Msg: fmt.Sprintf("where: expression is longer than %d bytes", MaxExprLen)}
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, &CompileError{Msg: "where: " + iss.Err().Error()}
	}
	if ast.OutputType() != cel.BoolType {
		return nil, &CompileError{Msg: fmt.Sprintf("where: the expression must be boolean, not %s", ast.OutputType())}
	}
	prg, err := e.Program(ast, cel.CostLimit(EntryCostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, &CompileError{Msg: "where: " + err.Error()}
	}
	f := &Filter{Expr: expr, prg: prg}
	refs, _ := cel.AstToCheckedExpr(ast)
	if refs != nil {
		for _, ref := range refs.GetReferenceMap() {
			if n := ref.GetName(); n == "predicate" || n == "fields" {
				f.UsesBody = true
			}
		}
	}
	cache.Add(expr, f)
	return f, nil
}

// Budget is the CEL cost one request may still spend. A request creates one
// and passes it to every Match, so that an expensive expression over many
// entries stops when the request's budget, not each entry's, is spent.
type Budget struct{ left uint64 }

// NewBudget returns a budget of n cost units.
func NewBudget(n uint64) *Budget { return &Budget{left: n} }

// Left returns the cost units not yet spent.
func (b *Budget) Left() uint64 { return b.left }

// BudgetError reports a where= expression that cost more than its request
// may spend.
type BudgetError struct {
	Expr  string
	Limit uint64
	// Entry is set when a single entry's evaluation went over
	// EntryCostLimit.
	Entry bool
}

func (e *BudgetError) Error() string {
	if e.Entry {
		return fmt.Sprintf("where: the expression costs more than %d units of CEL evaluation for a single entry; simplify it", EntryCostLimit)
	}
	return fmt.Sprintf("where: the expression spent this request's budget of %d units of CEL evaluation; narrow the query with indexed filters (package, subject, signer, predicateType, kind, type, from/to) or simplify the expression", e.Limit)
}

// Match evaluates the filter over the variables of one entry, charging its
// cost to b. An evaluation error (say, a field the entry's predicate lacks)
// is a non-match, not a failure; a spent budget is a *BudgetError, and a
// cancelled ctx (the client left) ends the evaluation with ctx's error.
func (f *Filter) Match(ctx context.Context, b *Budget, vars map[string]any) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if b.left == 0 {
		return false, &BudgetError{Expr: f.Expr, Limit: RequestBudget}
	}
	out, det, err := f.prg.ContextEval(ctx, vars)
	if det != nil && det.ActualCost() != nil {
		b.left -= min(b.left, *det.ActualCost())
	}
	if err != nil {
		var ce interpreter.EvalCancelledError
		switch {
		case errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded:
			b.left = 0
			return false, &BudgetError{Expr: f.Expr, Limit: EntryCostLimit, Entry: true}
		case ctx.Err() != nil:
			return false, ctx.Err()
		}
		return false, nil
	}
	bv, ok := out.Value().(bool)
	return ok && bv, nil
}
