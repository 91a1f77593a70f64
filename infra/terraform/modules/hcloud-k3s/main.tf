# k3s on Hetzner Cloud: servers on a private network behind a firewall, embedded
# etcd across the control plane nodes, spread over hosts by a placement group.
#
# The cluster's certificate authorities are generated here and handed to k3s
# before its first start, so Terraform can output a working kubeconfig without
# SSH-ing into a node. Their keys live in the (encrypted, remote) state and in the
# servers' user data: treat both as secrets.

locals {
  labels        = merge(var.labels, { "tasklane-cluster" = var.name })
  subnet_cidr   = cidrsubnet(var.network_cidr, 8, 1)
  server_ips    = [for i in range(var.server_count) : cidrhost(local.subnet_cidr, 10 + i)]
  agent_ips     = [for i in range(var.agent_count) : cidrhost(local.subnet_cidr, 100 + i)]
  first_server  = local.server_ips[0]
  ca_names      = ["server-ca", "client-ca", "request-header-ca", "etcd/peer-ca", "etcd/server-ca"]
  tls_dir       = "/var/lib/rancher/k3s/server/tls"
  install_k3s   = "curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION='${var.k3s_version}' sh -s -"
  private_iface = "enp7s0"
  # Primary IPs are bound to a datacenter, servers to a location.
  datacenters = {
    fsn1 = "fsn1-dc14", nbg1 = "nbg1-dc3", hel1 = "hel1-dc2", ash = "ash-dc1", hil = "hil-dc1", sin = "sin-dc1"
  }
}

resource "hcloud_network" "this" {
  name     = var.name
  ip_range = var.network_cidr
  labels   = local.labels
}

resource "hcloud_network_subnet" "nodes" {
  network_id   = hcloud_network.this.id
  type         = "cloud"
  network_zone = var.network_zone
  ip_range     = local.subnet_cidr
}

resource "hcloud_placement_group" "this" {
  name   = var.name
  type   = "spread"
  labels = local.labels
}

# Public side: the API for allow-listed CIDRs, HTTP(S) for the ingress controller,
# optional SSH. Node-to-node traffic uses the private network, which the firewall
# does not filter.
resource "hcloud_firewall" "this" {
  name   = var.name
  labels = local.labels

  rule {
    description = "Kubernetes API"
    direction   = "in"
    protocol    = "tcp"
    port        = "6443"
    source_ips  = var.api_allowed_cidrs
  }

  rule {
    description = "ingress HTTP"
    direction   = "in"
    protocol    = "tcp"
    port        = "80"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "ingress HTTPS"
    direction   = "in"
    protocol    = "tcp"
    port        = "443"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  dynamic "rule" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []
    content {
      description = "SSH, break-glass"
      direction   = "in"
      protocol    = "tcp"
      port        = "22"
      source_ips  = var.ssh_allowed_cidrs
    }
  }
}

resource "random_password" "token" {
  length  = 48
  special = false
}

resource "tls_private_key" "ca" {
  for_each    = toset(local.ca_names)
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "ca" {
  for_each              = toset(local.ca_names)
  private_key_pem       = tls_private_key.ca[each.key].private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 87600
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"]
  subject {
    common_name = "k3s-${replace(each.key, "/", "-")}@${var.name}"
  }
}

# Signs service account tokens; k3s expects it next to the CAs.
resource "tls_private_key" "service" {
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_private_key" "admin" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "admin" {
  private_key_pem = tls_private_key.admin.private_key_pem
  subject {
    common_name  = "tasklane-admin"
    organization = "system:masters"
  }
}

resource "tls_locally_signed_cert" "admin" {
  cert_request_pem      = tls_cert_request.admin.cert_request_pem
  ca_private_key_pem    = tls_private_key.ca["client-ca"].private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca["client-ca"].cert_pem
  validity_period_hours = 8760
  allowed_uses          = ["client_auth", "digital_signature", "key_encipherment"]
}

locals {
  ca_files = merge(
    { for n in local.ca_names : "${local.tls_dir}/${n}.crt" => tls_self_signed_cert.ca[n].cert_pem },
    { for n in local.ca_names : "${local.tls_dir}/${n}.key" => tls_private_key.ca[n].private_key_pem },
    { "${local.tls_dir}/service.key" = tls_private_key.service.private_key_pem },
  )
  server_flags = join(" ", [
    "--node-ip=$(ip -4 -o addr show ${local.private_iface} | awk '{print $4}' | cut -d/ -f1)",
    "--flannel-iface=${local.private_iface}",
    "--tls-san=${hcloud_primary_ip.api.ip_address}",
    "--secrets-encryption",
    "--disable=traefik",
    "--kube-apiserver-arg=anonymous-auth=false",
  ])
}

# A stable public address for the API, known before any server exists, so it
# can be baked into the certificates (tls-san) and the kubeconfig.
resource "hcloud_primary_ip" "api" {
  name          = "${var.name}-api"
  type          = "ipv4"
  assignee_type = "server"
  datacenter    = local.datacenters[var.location]
  auto_delete   = false
  labels        = local.labels
}

resource "hcloud_server" "server" {
  count              = var.server_count
  name               = "${var.name}-server-${count.index}"
  server_type        = var.server_type
  image              = var.image
  location           = var.location
  ssh_keys           = var.ssh_key_ids
  placement_group_id = hcloud_placement_group.this.id
  firewall_ids       = [hcloud_firewall.this.id]
  labels             = merge(local.labels, { role = "server" })

  public_net {
    ipv4_enabled = true
    ipv4         = count.index == 0 ? hcloud_primary_ip.api.id : null
    ipv6_enabled = true
  }

  network {
    network_id = hcloud_network.this.id
    ip         = local.server_ips[count.index]
  }

  user_data = join("\n", ["#cloud-config", yamlencode({
    write_files = [for path, content in local.ca_files : { path = path, content = content, permissions = "0600" }]
    runcmd = [
      count.index == 0
      ? "${local.install_k3s} server --cluster-init --token='${random_password.token.result}' ${local.server_flags}"
      : "${local.install_k3s} server --server=https://${local.first_server}:6443 --token='${random_password.token.result}' ${local.server_flags}",
    ]
  })])

  depends_on = [hcloud_network_subnet.nodes]

  lifecycle {
    # Certificates and token are fixed at first boot; a user_data change must not
    # replace running control plane nodes.
    ignore_changes = [user_data, image]
  }
}

resource "hcloud_server" "agent" {
  count              = var.agent_count
  name               = "${var.name}-agent-${count.index}"
  server_type        = var.agent_type
  image              = var.image
  location           = var.location
  ssh_keys           = var.ssh_key_ids
  placement_group_id = count.index < 10 ? hcloud_placement_group.this.id : null
  firewall_ids       = [hcloud_firewall.this.id]
  labels             = merge(local.labels, { role = "agent" })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  network {
    network_id = hcloud_network.this.id
    ip         = local.agent_ips[count.index]
  }

  user_data = join("\n", ["#cloud-config", yamlencode({
    runcmd = [
      "${local.install_k3s} agent --server=https://${local.first_server}:6443 --token='${random_password.token.result}' --node-ip=${local.agent_ips[count.index]} --flannel-iface=${local.private_iface}",
    ]
  })])

  depends_on = [hcloud_server.server]

  lifecycle {
    ignore_changes = [user_data, image]
  }
}
