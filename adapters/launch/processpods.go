package launch

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProcessPodsRole is the ClusterRole (and ClusterRoleBinding) that lets
// the process-pod node read ConfigMaps, Secrets and Services.
const ProcessPodsRole = "kprobe-process-pods"

// grantProcessPods lets the node agent (system:node:NAME) list and watch
// ConfigMaps, Secrets and Services of the whole cluster. virtual-kubelet
// resolves env.valueFrom and the Service variables from cluster-wide
// informers, which the Node authorizer refuses a node ("can only read
// namespaced object of this type"); without this a pod whose env names a
// ConfigMap or Secret stays Pending (MandatoryConfigMapNotFound) for ever,
// and `helm install --wait` of such a chart times out.
func (c *client) grantProcessPods(ctx context.Context, nodeName string) error {
	rbac := c.cs.RbacV1()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ProcessPodsRole},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"configmaps", "secrets", "services"},
			Verbs:     []string{"get", "list", "watch"},
		}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ProcessPodsRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ProcessPodsRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "system:node:" + nodeName}},
	}
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterRole %s: %w", ProcessPodsRole, err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterRoleBinding %s: %w", ProcessPodsRole, err)
	}
	return nil
}
