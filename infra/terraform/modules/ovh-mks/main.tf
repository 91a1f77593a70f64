# OVHcloud Managed Kubernetes on a vRack private network, API restricted to
# allow-listed addresses, one autoscaled anti-affinity node pool.

resource "ovh_cloud_project_network_private" "this" {
  service_name = var.service_name
  name         = var.name
  regions      = [var.region]
  vlan_id      = var.vlan_id
}

resource "ovh_cloud_project_network_private_subnet" "nodes" {
  service_name = var.service_name
  network_id   = ovh_cloud_project_network_private.this.id
  region       = var.region
  network      = var.subnet_cidr
  start        = cidrhost(var.subnet_cidr, 10)
  end          = cidrhost(var.subnet_cidr, -2)
  dhcp         = true
  no_gateway   = false
}

resource "ovh_cloud_project_kube" "this" {
  service_name = var.service_name
  name         = var.name
  region       = var.region
  version      = var.kubernetes_version

  private_network_id = tolist(ovh_cloud_project_network_private.this.regions_attributes[*].openstackid)[0]

  private_network_configuration {
    default_vrack_gateway              = ""
    private_network_routing_as_default = false
  }

  update_policy = "MINIMAL_DOWNTIME"

  depends_on = [ovh_cloud_project_network_private_subnet.nodes]
}

resource "ovh_cloud_project_kube_iprestrictions" "this" {
  service_name = var.service_name
  kube_id      = ovh_cloud_project_kube.this.id
  ips          = var.api_allowed_cidrs
}

resource "ovh_cloud_project_kube_nodepool" "this" {
  service_name  = var.service_name
  kube_id       = ovh_cloud_project_kube.this.id
  name          = "${var.name}-pool"
  flavor_name   = var.node_flavor
  min_nodes     = var.node_pool.min
  max_nodes     = var.node_pool.max
  desired_nodes = var.node_pool.desired
  autoscale     = true
  # One node per hypervisor: a host failure takes at most one node.
  anti_affinity  = true
  monthly_billed = false

  lifecycle {
    ignore_changes = [desired_nodes]
  }
}
