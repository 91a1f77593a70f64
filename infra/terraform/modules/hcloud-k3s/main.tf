# k3s on Hetzner Cloud: servers on a private network behind a firewall, embedded
# etcd across the control plane nodes, spread over hosts by a placement group.
#
# The cluster's certificate authorities are generated here, so Terraform can
# output a working kubeconfig. They, the join tokens and the k3s configuration
# reach each node once, at creation, over SSH with a key of this configuration:
# never through user data, which Hetzner's metadata service hands to anything
# on the node that asks, pods included. The user data only blocks pods from the
# metadata service. The keys live in the (encrypted, remote) state: treat it as
# a secret; only the approved production pipeline reads it.

locals {
  labels        = merge(var.labels, { "tasklane-cluster" = var.name })
  subnet_cidr   = cidrsubnet(var.network_cidr, 8, 1)
  server_ips    = [for i in range(var.server_count) : cidrhost(local.subnet_cidr, 10 + i)]
  agent_ips     = [for i in range(var.agent_count) : cidrhost(local.subnet_cidr, 100 + i)]
  first_server  = local.server_ips[0]
  ca_names      = ["server-ca", "client-ca", "request-header-ca", "etcd/peer-ca", "etcd/server-ca"]
  tls_dir       = "/var/lib/rancher/k3s/server/tls"
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

# Public side: the API and SSH for allow-listed CIDRs, HTTP(S) for the ingress
# controller. Node-to-node traffic uses the private network, which the firewall
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

  # Terraform bootstraps each node over SSH from where it runs (the API's
  # allow-list), and break-glass access comes from ssh_allowed_cidrs.
  rule {
    description = "SSH: bootstrap and break-glass"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = distinct(concat(var.api_allowed_cidrs, var.ssh_allowed_cidrs))
  }
}

resource "random_password" "token" {
  length  = 48
  special = false
}

# Agents join with their own token: it admits a node, not a control plane member.
resource "random_password" "agent_token" {
  length  = 48
  special = false
}

# Terraform's own way onto the nodes for the one-time bootstrap.
resource "tls_private_key" "provision" {
  algorithm = "ED25519"
}

resource "hcloud_ssh_key" "provision" {
  name       = "${var.name}-provision"
  public_key = tls_private_key.provision.public_key_openssh
  labels     = local.labels
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
  server_config = [for i in range(var.server_count) : merge({
    token                = random_password.token.result
    agent-token          = random_password.agent_token.result
    node-ip              = local.server_ips[i]
    flannel-iface        = local.private_iface
    tls-san              = [hcloud_primary_ip.api.ip_address]
    secrets-encryption   = true
    disable              = ["traefik"]
    "kube-apiserver-arg" = ["anonymous-auth=false"]
  }, i == 0 ? { cluster-init = true } : { server = "https://${local.first_server}:6443" })]
  agent_config = [for i in range(var.agent_count) : {
    token         = random_password.agent_token.result
    server        = "https://${local.first_server}:6443"
    node-ip       = local.agent_ips[i]
    flannel-iface = local.private_iface
  }]
  # One script per node, copied over SSH and removed after it ran: the files
  # k3s reads at first start, then the pinned installer (which checks the
  # release's checksums itself).
  write_files = join("\n", [for path, content in local.ca_files :
  "install -D -m 600 /dev/stdin '${path}' <<'PEM'\n${trimspace(content)}\nPEM"])
  bootstrap = { for role in ["server", "agent"] : role => join("\n", [
    "set -eu",
    "curl -sfL '${local.installer_url}' -o /root/install-k3s.sh",
    "INSTALL_K3S_VERSION='${var.k3s_version}' sh /root/install-k3s.sh ${role}",
    "rm -f /root/install-k3s.sh",
  ]) }
  installer_url = "https://raw.githubusercontent.com/k3s-io/k3s/${replace(var.k3s_version, "+", "%2B")}/install.sh"
  # Pods (k3s' pod network 10.42.0.0/16) never reach the metadata service,
  # which serves this node's user data; set again on every boot.
  user_data = join("\n", ["#cloud-config", yamlencode({
    bootcmd = ["iptables -t raw -C PREROUTING -s 10.42.0.0/16 -d 169.254.169.254/32 -j DROP 2>/dev/null || iptables -t raw -I PREROUTING -s 10.42.0.0/16 -d 169.254.169.254/32 -j DROP"]
  })])
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
  ssh_keys           = concat(var.ssh_key_ids, [hcloud_ssh_key.provision.id])
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

  user_data = local.user_data

  connection {
    type        = "ssh"
    host        = self.ipv4_address
    user        = "root"
    private_key = tls_private_key.provision.private_key_openssh
  }

  provisioner "file" {
    content = join("\n", [
      local.write_files,
      "install -D -m 600 /dev/stdin /etc/rancher/k3s/config.yaml <<'CONFIG'\n${yamlencode(local.server_config[count.index])}\nCONFIG",
      local.bootstrap.server,
    ])
    destination = "/root/k3s-bootstrap.sh"
  }

  provisioner "remote-exec" {
    inline = ["sh /root/k3s-bootstrap.sh; status=$?; rm -f /root/k3s-bootstrap.sh; exit $status"]
  }

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
  ssh_keys           = concat(var.ssh_key_ids, [hcloud_ssh_key.provision.id])
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

  user_data = local.user_data

  connection {
    type        = "ssh"
    host        = self.ipv4_address
    user        = "root"
    private_key = tls_private_key.provision.private_key_openssh
  }

  provisioner "file" {
    content = join("\n", [
      "install -D -m 600 /dev/stdin /etc/rancher/k3s/config.yaml <<'CONFIG'\n${yamlencode(local.agent_config[count.index])}\nCONFIG",
      local.bootstrap.agent,
    ])
    destination = "/root/k3s-bootstrap.sh"
  }

  provisioner "remote-exec" {
    inline = ["sh /root/k3s-bootstrap.sh; status=$?; rm -f /root/k3s-bootstrap.sh; exit $status"]
  }

  depends_on = [hcloud_server.server]

  lifecycle {
    ignore_changes = [user_data, image]
  }
}
