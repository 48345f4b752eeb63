package k8s

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/tailgate-otel/tailgate/internal/ratelog"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/loop"
)

// Resolver watches the EndpointSlices of one Service.
type Resolver struct {
	cfg       resolver.K8sConfig
	service   string
	namespace string
	opts      options
	pub       *loop.Publisher
	emptyLog  *ratelog.Limiter
	lc        loop.Lifecycle

	dirty chan struct{} // an event arrived since the last publication

	// settled is closed once Start may stop waiting: first publication, or
	// first error (so a broken API does not hold Start for the timeout).
	settleOnce sync.Once
	settled    chan struct{}
}

var _ resolver.Resolver = (*Resolver)(nil)

// New validates cfg, applies the defaults and resolves the namespace. It
// does not contact the API. l may be nil.
func New(cfg resolver.K8sConfig, set resolver.Settings, l resolver.Listener, opts ...Option) (*Resolver, error) {
	o := options{namespaceFile: DefaultNamespaceFile, initialBackoff: time.Second}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := (&resolver.Config{K8s: &cfg}).Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if o.logEvery <= 0 {
		o.logEvery = cfg.Timeout
	}
	if o.newClient == nil {
		o.newClient = inClusterClient
	}
	pub, err := loop.NewPublisher(resolver.KindK8s, set, l, o.logEvery)
	if err != nil {
		return nil, fmt.Errorf("k8s resolver: %w", err)
	}
	name, ns, _ := resolver.ParseService(cfg.Service) // validated above
	if ns == "" {
		ns = ownNamespace(o.namespaceFile, pub.Logger())
	}
	return &Resolver{
		cfg: cfg, service: name, namespace: ns, opts: o, pub: pub,
		emptyLog: ratelog.NewLimiter(o.logEvery),
		dirty:    make(chan struct{}, 1),
		settled:  make(chan struct{}),
	}, nil
}

func inClusterClient() (kubernetes.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("building in-cluster config: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

func ownNamespace(path string, log *zap.Logger) string {
	b, err := os.ReadFile(path)
	if ns := strings.TrimSpace(string(b)); err == nil && ns != "" {
		return ns
	}
	log.Warn(`cannot read this pod's namespace, using "default"; write the service as name.namespace to choose`,
		zap.String("file", path), zap.Error(err))
	return "default"
}

// Namespace is the namespace being watched.
func (r *Resolver) Namespace() string { return r.namespace }

// Start builds the client and starts the informer, then waits until the
// first full list is published, the first error is seen, or the timeout
// passes, whichever comes first. It never fails because of the API.
func (r *Resolver) Start(ctx context.Context) error {
	runCtx, err := r.lc.Begin(ctx)
	if err != nil {
		return err
	}
	r.pub.Logger().Debug("starting k8s resolver", zap.String("service", r.service),
		zap.String("namespace", r.namespace), zap.Int32s("ports", r.cfg.Ports))
	client, err := r.opts.newClient()
	if err != nil {
		r.pub.Failure(runCtx, err)
		r.lc.Go(func(ctx context.Context) { r.retryClient(ctx) })
		return nil
	}
	r.runInformer(client)
	timer := time.NewTimer(r.cfg.Timeout)
	defer timer.Stop()
	select {
	case <-r.settled:
	case <-timer.C:
	case <-ctx.Done():
	case <-runCtx.Done(): // Shutdown during Start
	}
	return nil
}

// Shutdown stops the informer and the publishing goroutine.
func (r *Resolver) Shutdown(ctx context.Context) error { return r.lc.Stop(ctx) }

// Endpoints returns the last good set.
func (r *Resolver) Endpoints() []string { return r.pub.Endpoints() }

func (r *Resolver) settle() { r.settleOnce.Do(func() { close(r.settled) }) }

func (r *Resolver) retryClient(ctx context.Context) {
	backoff := r.opts.initialBackoff
	timer := time.NewTimer(backoff)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		client, err := r.opts.newClient()
		if err == nil {
			r.runInformer(client)
			return
		}
		r.pub.Failure(ctx, err)
		backoff = min(2*backoff, r.cfg.Timeout)
		timer.Reset(backoff)
	}
}

func (r *Resolver) runInformer(client kubernetes.Interface) {
	selector := discoveryv1.LabelServiceName + "=" + r.service
	listTimeout := int64(max(r.cfg.Timeout/time.Second, 1))
	inf := discoveryinformers.NewFilteredEndpointSliceInformer(client, r.namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) {
			o.LabelSelector = selector
			if !o.Watch {
				// Watches keep client-go's long randomised timeouts: short
				// ones load the API server (upstream #33004).
				o.TimeoutSeconds = &listTimeout
			}
		})
	mark := func() {
		select {
		case r.dirty <- struct{}{}:
		default:
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { mark() },
		UpdateFunc: func(any, any) { mark() },
		DeleteFunc: func(any) { mark() },
	})
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() != nil || errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return // shutting down, or the normal end of a watch
		}
		r.pub.Failure(ctx, fmt.Errorf("list/watch endpointslices %s in namespace %s: %w", selector, r.namespace, err))
		r.settle()
	})
	r.lc.Go(func(ctx context.Context) { inf.RunWithContext(ctx) })
	r.lc.Go(func(ctx context.Context) { r.publishLoop(ctx, inf) })
}

func (r *Resolver) publishLoop(ctx context.Context, inf cache.SharedIndexInformer) {
	// Publishing before the first full list would show a partial set.
	tick := time.NewTicker(10 * time.Millisecond)
	for !inf.HasSynced() {
		select {
		case <-ctx.Done():
			tick.Stop()
			return
		case <-tick.C:
		}
	}
	tick.Stop()
	for {
		r.publish(ctx, inf.GetStore().List())
		r.settle()
		select {
		case <-ctx.Done():
			return
		case <-r.dirty:
		}
	}
}

func (r *Resolver) publish(ctx context.Context, objs []any) {
	eps, err := collect(objs, r.service, r.namespace, r.cfg.Ports, r.cfg.ReturnHostnames)
	if err != nil {
		r.pub.Failure(ctx, fmt.Errorf("service %s/%s: %w", r.namespace, r.service, err))
		return
	}
	if len(eps) == 0 {
		if ok, _ := r.emptyLog.Allow(time.Now()); ok {
			r.pub.Logger().Warn("service has no ready endpoints (or does not exist)",
				zap.String("service", r.service), zap.String("namespace", r.namespace))
		}
	}
	r.pub.Success(ctx, eps)
}
